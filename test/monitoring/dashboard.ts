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

export function fillGrafanaVariables(expr: string): string {
  return expr.replace(/\$__(rate_interval|interval|range)\b/g, (v) => GRAFANA_VARIABLES[v]!);
}

export function dashboardExpressions(dashboard: {
  panels?: Panel[];
}): { panel: string; expr: string }[] {
  const out: { panel: string; expr: string }[] = [];
  const walk = (panels: Panel[] = []) => {
    for (const p of panels) {
      for (const t of p.targets ?? []) {
        if (t.expr) out.push({ panel: p.title ?? '?', expr: fillGrafanaVariables(t.expr) });
      }
      walk(p.panels);
    }
  };
  walk(dashboard.panels);
  return out;
}
