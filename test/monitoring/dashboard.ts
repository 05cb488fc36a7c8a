/** The PromQL of the shipped Grafana dashboard, with Grafana's own variables filled in. */

interface Panel {
  title?: string;
  targets?: { expr?: string }[];
  panels?: Panel[];
}

/** Grafana's built-in interval variables, as a real query would get them. */
const GRAFANA_VARIABLES: Record<string, string> = {
  $__rate_interval: '1m',
  $__interval: '15s',
  $__range: '1h',
};

/** The dashboard's own filters (site, channel, version): "All" is `.*` (their allValue). */
export type Filters = Partial<Record<'site' | 'channel' | 'version', string>>;

export function fillGrafanaVariables(expr: string, filters: Filters = {}): string {
  return expr
    .replace(/\$__(rate_interval|interval|range)\b/g, (v) => GRAFANA_VARIABLES[v]!)
    .replace(/\$(site|channel|version)\b/g, (_, name: keyof Filters) => filters[name] ?? '.*');
}

export function dashboardExpressions(
  dashboard: { panels?: Panel[] },
  filters: Filters = {},
): { panel: string; expr: string }[] {
  const out: { panel: string; expr: string }[] = [];
  const walk = (panels: Panel[] = []) => {
    for (const p of panels) {
      for (const t of p.targets ?? []) {
        if (t.expr)
          out.push({ panel: p.title ?? '?', expr: fillGrafanaVariables(t.expr, filters) });
      }
      walk(p.panels);
    }
  };
  walk(dashboard.panels);
  return out;
}
