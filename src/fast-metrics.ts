/**
 * Counters and histograms for the per-element hot path, speaking prom-client's metric interface
 * (`name`, `help`, `type`, `get()`, `reset()`) so a prom-client Registry, its text format and its
 * cluster aggregation serve them like any other metric.
 *
 * Why not prom-client's own: its `labels(...)` children still hash and validate the label object on
 * every `inc()`/`observe()`, which the gateway paid several times per relayed element. Here every
 * label set is known up front, so each series is a plain object bound once; counting is an addition.
 * Histogram series carry their labels next to `le` (not as prom-client's `sharedLabels`), because
 * prom-client's cluster aggregator groups by `labels` only and would merge the series.
 *
 * Once-per-session metrics (handshakes, session duration, connect time, closes) use the same series
 * through prom-client-shaped `inc(labels)` / `observe(labels, v)`: one Map lookup by the label values,
 * no validation or hashing of the label object, and call sites that read like prom-client's.
 */
import type { Registry } from 'prom-client';

type Labels<L extends string> = Readonly<Record<L, string>>;

interface MetricValue {
  readonly value: number;
  readonly labels: Record<string, string | number>;
  readonly metricName?: string;
}

interface MetricObject {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'histogram';
  readonly values: MetricValue[];
  readonly aggregator: 'sum';
}

interface Options<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  readonly registers: readonly Registry[];
}

/** One counter series: `inc()` is all the hot path sees. */
export class CounterSeries<L extends string> {
  value = 0;
  constructor(readonly labels: Labels<L>) {}
  inc(n = 1): void {
    this.value += n;
  }
}

/** The series key of a label set: the values in labelNames order (just the value for one label). */
function keyOf<L extends string>(labelNames: readonly L[], labels: Labels<L>): string {
  if (labelNames.length === 1) return labels[labelNames[0]!];
  let key = '';
  for (let i = 0; i < labelNames.length; i++) key += (i === 0 ? '' : '\u0000') + labels[labelNames[i]!];
  return key;
}

export class FixedLabelCounter<L extends string> {
  readonly type = 'counter' as const;
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  private readonly series = new Map<string, CounterSeries<L>>();

  constructor(opts: Options<L>) {
    this.name = opts.name;
    this.help = opts.help;
    this.labelNames = opts.labelNames;
    for (const r of opts.registers) r.registerMetric(this as never);
  }

  /** The series for these labels, created (at zero) on first request; keep it and call inc(). */
  child(labels: Labels<L>): CounterSeries<L> {
    const key = keyOf(this.labelNames, labels);
    let s = this.series.get(key);
    if (s === undefined) {
      s = new CounterSeries({ ...labels });
      this.series.set(key, s);
    }
    return s;
  }

  /** prom-client's `inc(labels, n)`; `inc(labels, 0)` creates the series at zero. */
  inc(labels: Labels<L>, n = 1): void {
    this.child(labels).value += n;
  }

  get(): Promise<MetricObject> {
    const values = [...this.series.values()].map((s) => ({ value: s.value, labels: { ...s.labels } }));
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: 'sum' });
  }

  reset(): void {
    for (const s of this.series.values()) s.value = 0;
  }
}

/** One histogram series: `observe()` finds the bucket with a short linear scan (≤ 16 bounds). */
export class HistogramSeries<L extends string> {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Labels<L>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length);
  }
  observe(v: number): void {
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (v <= bounds[i]!) {
        this.counts[i]!++;
        break;
      }
    }
    this.sum += v;
    this.count++;
  }
}

export class FixedLabelHistogram<L extends string> {
  readonly type = 'histogram' as const;
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  private readonly bounds: readonly number[];
  private readonly series = new Map<string, HistogramSeries<L>>();

  constructor(opts: Options<L> & { readonly buckets: readonly number[] }) {
    this.name = opts.name;
    this.help = opts.help;
    this.labelNames = opts.labelNames;
    this.bounds = [...opts.buckets].sort((a, b) => a - b);
    for (const r of opts.registers) r.registerMetric(this as never);
  }

  child(labels: Labels<L>): HistogramSeries<L> {
    const key = keyOf(this.labelNames, labels);
    let s = this.series.get(key);
    if (s === undefined) {
      s = new HistogramSeries({ ...labels }, this.bounds);
      this.series.set(key, s);
    }
    return s;
  }

  /** prom-client's `observe(labels, value)`. */
  observe(labels: Labels<L>, value: number): void {
    this.child(labels).observe(value);
  }

  /** prom-client's `zero(labels)`: the series exists, all zero, from the first scrape. */
  zero(labels: Labels<L>): void {
    this.child(labels);
  }

  get(): Promise<MetricObject> {
    const values: MetricValue[] = [];
    for (const s of this.series.values()) {
      let acc = 0;
      this.bounds.forEach((le, i) => {
        acc += s.counts[i]!;
        values.push({ value: acc, labels: { ...s.labels, le }, metricName: `${this.name}_bucket` });
      });
      values.push({ value: s.count, labels: { ...s.labels, le: '+Inf' }, metricName: `${this.name}_bucket` });
      values.push({ value: s.sum, labels: { ...s.labels }, metricName: `${this.name}_sum` });
      values.push({ value: s.count, labels: { ...s.labels }, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: 'sum' });
  }

  reset(): void {
    for (const s of this.series.values()) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }
}
