import { strict as assert } from 'node:assert';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import {
  ConfigError,
  GateError,
  HealthCheckError,
  KubesoloError,
  OperationError,
  UsageError,
  VerificationError,
  errnoCode,
  toKubesoloError,
} from '../../src/errors.js';
import { createLogger, isLogLevel } from '../../src/log.js';
import { hasCode } from '../helpers/rejects.js';

describe('errors', () => {
  it('each error class maps to its docs/design.md §3.7 exit code', () => {
    const cases: [KubesoloError, number][] = [
      [new UsageError('UNEXPECTED', 'm'), 2],
      [new ConfigError('UNEXPECTED', 'm'), 2],
      [new GateError('UNEXPECTED', 'm'), 3],
      [new VerificationError('UNEXPECTED', 'm'), 4],
      [new HealthCheckError('UNEXPECTED', 'm'), 5],
      [new OperationError('UNEXPECTED', 'm'), 1],
    ];
    for (const [err, code] of cases) assert.equal(err.exitCode, code, err.name);
  });

  it('keeps code, cause and details, and serialises them', () => {
    const cause = new Error('disk on fire');
    const err = new GateError('OUTSIDE_MAINTENANCE_WINDOW', 'closed', {
      cause,
      details: { window: '02:00-04:00' },
    });
    assert.equal(err.cause, cause);
    assert.deepEqual(err.toJSON(), {
      code: 'OUTSIDE_MAINTENANCE_WINDOW',
      message: 'closed',
      exitCode: 3,
      window: '02:00-04:00',
    });
  });

  it('wraps foreign errors as UNEXPECTED (exit 1) and passes ours through', () => {
    const ours = new VerificationError('SIGNATURE_INVALID', 'bad');
    assert.equal(toKubesoloError(ours), ours);
    const wrapped = toKubesoloError(new TypeError('boom'));
    hasCode('UNEXPECTED', 1)(wrapped);
    assert.equal(toKubesoloError('a string').message, 'a string');
  });

  it('reads errno codes', () => {
    assert.equal(errnoCode(Object.assign(new Error('x'), { code: 'ENOSPC' })), 'ENOSPC');
    assert.equal(errnoCode(new Error('x')), undefined);
    assert.equal(errnoCode(null), undefined);
  });
});

describe('logger', () => {
  function capture(json: boolean, level: 'debug' | 'info' | 'warn' = 'info') {
    const stream = new PassThrough();
    let text = '';
    stream.on('data', (d: Buffer) => (text += d.toString()));
    const log = createLogger({ json, level, stream, now: () => new Date('2026-01-02T03:04:05Z') });
    return { log, text: () => text };
  }

  it('writes JSON lines with time, level, msg and fields', () => {
    const c = capture(true);
    c.log.info('downloading', { url: 'http://x/', bytes: 3 });
    assert.deepEqual(JSON.parse(c.text()), {
      time: '2026-01-02T03:04:05.000Z',
      level: 'info',
      msg: 'downloading',
      url: 'http://x/',
      bytes: 3,
    });
  });

  it('writes readable lines for a terminal', () => {
    const c = capture(false);
    c.log.warn('slow', { rate: 10, note: 'x y', skip: undefined });
    assert.equal(c.text(), 'WARN  slow rate=10 note=x y\n');
  });

  it('drops messages below its level', () => {
    const c = capture(true, 'warn');
    c.log.debug('a');
    c.log.info('b');
    c.log.error('c');
    assert.equal(c.text().trim().split('\n').length, 1);
    assert.match(c.text(), /"msg":"c"/);
  });

  it('knows its levels', () => {
    assert.ok(isLogLevel('debug'));
    assert.ok(!isLogLevel('verbose'));
  });
});
