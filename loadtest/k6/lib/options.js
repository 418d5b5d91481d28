// Shared k6 options: the load shape from env, the failure thresholds, the trend stats.

export function envNumber(name, dflt) {
  const raw = __ENV[name];
  if (raw === undefined || raw === '') return dflt;
  const v = Number(raw);
  if (!Number.isFinite(v)) throw new Error(`${name}=${raw} is not a number`);
  return v;
}

export function envString(name, dflt) {
  const raw = __ENV[name];
  return raw === undefined || raw === '' ? dflt : raw;
}

/**
 * One scenario from env:
 *   EXECUTOR=constant-arrival-rate (default): RATE iterations/s for DURATION,
 *     PRE_VUS / MAX_VUS VUs (defaults scale with RATE).
 *   EXECUTOR=ramping-vus: ramp to VUS over RAMP_UP, hold for DURATION, ramp down over RAMP_DOWN;
 *     each VU loops as fast as the server answers (plus THINK_TIME seconds, see the scripts).
 */
export function scenarioFromEnv(defaults) {
  const executor = envString('EXECUTOR', 'constant-arrival-rate');
  const duration = envString('DURATION', defaults.duration || '30s');
  if (executor === 'constant-arrival-rate') {
    const rate = envNumber('RATE', defaults.rate);
    if (!(rate > 0)) throw new Error('RATE must be > 0');
    const preAllocatedVUs = envNumber('PRE_VUS', Math.max(2, Math.ceil(rate * (defaults.vusPerRate || 1))));
    const maxVUs = envNumber(
      'MAX_VUS',
      Math.max(preAllocatedVUs, Math.ceil(rate * (defaults.maxVusPerRate || 10)), 10),
    );
    return {
      executor,
      rate,
      timeUnit: '1s',
      duration,
      preAllocatedVUs,
      maxVUs,
      gracefulStop: envString('GRACEFUL_STOP', '30s'),
    };
  }
  if (executor === 'ramping-vus') {
    const vus = envNumber('VUS', defaults.vus || 10);
    return {
      executor,
      startVUs: 0,
      stages: [
        { duration: envString('RAMP_UP', '10s'), target: vus },
        { duration, target: vus },
        { duration: envString('RAMP_DOWN', '5s'), target: 0 },
      ],
      gracefulRampDown: envString('GRACEFUL_STOP', '30s'),
    };
  }
  throw new Error(`EXECUTOR=${executor}: use constant-arrival-rate or ramping-vus`);
}

/**
 * The failure thresholds every script shares, plus `p(95)<P95_MS` on the script's own trends when
 * P95_MS is set.
 */
export function thresholds(trendNames) {
  const t = {
    http_req_failed: ['rate<0.01'],
    checks: ['rate>0.99'],
  };
  const p95 = __ENV.P95_MS;
  if (p95) {
    for (const name of trendNames || []) t[name] = [`p(95)<${Number(p95)}`];
  }
  return t;
}

export const summaryTrendStats = ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)', 'count'];
