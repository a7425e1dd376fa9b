import { AggregatorRegistry, Histogram, Registry } from 'prom-client';
import { FixedLabelCounter, FixedLabelHistogram } from '../../src/fast-metrics';

describe('fast metrics speak prom-client', () => {
  it('a counter renders like a prom-client counter', async () => {
    const registry = new Registry();
    const c = new FixedLabelCounter({ name: 'x_total', help: 'h', labelNames: ['d', 'k'] as const, registers: [registry] });
    const a = c.child({ d: 'c2s', k: 'iq' });
    c.child({ d: 's2c', k: 'iq' });
    a.inc();
    a.inc(2);
    expect(await registry.metrics()).toBe('# HELP x_total h\n# TYPE x_total counter\nx_total{d="c2s",k="iq"} 3\nx_total{d="s2c",k="iq"} 0\n');
  });

  it('a histogram gives the same buckets, sum and count as prom-client for the same observations', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const buckets = [0.001, 0.01, 0.1, 1];
    const h = new FixedLabelHistogram({ name: 'lat', help: 'h', labelNames: ['d'] as const, buckets, registers: [ours] });
    const p = new Histogram({ name: 'lat', help: 'h', labelNames: ['d'] as const, buckets, registers: [theirs] });
    const series = h.child({ d: 'c2s' });
    for (const v of [0.0005, 0.001, 0.05, 0.5, 3, 0.002]) {
      series.observe(v);
      p.observe({ d: 'c2s' }, v);
    }
    const norm = (text: string) => text.split('\n').map((l) => l.replace(/\{le="([^"]+)",d="c2s"\}|\{d="c2s",le="([^"]+)"\}/, (_m, a, b) => `{d="c2s",le="${a ?? b}"}`)).sort();
    expect(norm(await ours.metrics())).toEqual(norm(await theirs.metrics()));
  });

  it('keeps labelled histogram series apart in cluster aggregation', async () => {
    const r1 = new Registry();
    const r2 = new Registry();
    for (const r of [r1, r2]) {
      const h = new FixedLabelHistogram({ name: 'lat', help: 'h', labelNames: ['d'] as const, buckets: [1], registers: [r] });
      h.child({ d: 'c2s' }).observe(0.5);
      h.child({ d: 's2c' }).observe(2);
    }
    const merged = AggregatorRegistry.aggregate([await r1.getMetricsAsJSON(), await r2.getMetricsAsJSON()] as never);
    const text = await merged.metrics();
    expect(text).toContain('lat_bucket{d="c2s",le="1"} 2');
    expect(text).toContain('lat_bucket{d="s2c",le="1"} 0');
    expect(text).toContain('lat_count{d="s2c"} 2');
  });
});
