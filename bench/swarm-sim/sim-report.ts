// The simulation's tables, for the terminal and for the `## Swarm simulation` section of
// BENCHMARKS.md.
import { table } from '../benchmarks-file.js';
import { layoutName, type Layout } from './relay-layout.js';
import type { RolloutOutcome } from './rollout-model.js';

/** A real rollout run the model is held against. */
export interface MeasuredRun {
  readonly name: string;
  readonly layout: Layout;
  /** The real makespan ÷ one node alone direct, or undefined while no real run exists. */
  readonly ratio: number | undefined;
  /** Where the figure comes from. */
  readonly source: string;
  readonly model: RolloutOutcome;
}

/** How close the model must come to a measured ratio (issue 16: within 10 %). */
export const VALIDATION_TOLERANCE = 0.1;

const fixed = (value: number, digits = 2): string => value.toFixed(digits);

/** K, layout, makespan, ÷ one node alone, max and mean per-node upload ÷ `unit` bytes, WAN ÷ image. */
export function outcomeTable(outcomes: readonly RolloutOutcome[], unitName: string, unitBytes: number): string {
  return table(
    ['K', 'layout', 'makespan s', 'makespan ÷ one node alone', `max per-node upload ÷ ${unitName}`, `mean upload ÷ ${unitName}`, 'WAN ÷ image', 'events'],
    outcomes.map((o) => [
      String(o.nodes),
      layoutName(o.layout),
      fixed(o.makespan, 1),
      fixed(o.makespan / o.alone),
      fixed(o.maxUpload / unitBytes),
      fixed(o.meanUpload / unitBytes),
      fixed(o.wanBytes / o.imageBytes),
      String(o.steps),
    ]),
  );
}

/** Whether a model ratio is within the tolerance of a measured one. */
export function withinTolerance(model: number, measured: number): boolean {
  return Math.abs(model / measured - 1) <= VALIDATION_TOLERANCE;
}

export function validationTable(runs: readonly MeasuredRun[]): string {
  return table(
    ['real run', 'layout', 'measured makespan ÷ one node alone', 'model', 'model ÷ measured', `within ${VALIDATION_TOLERANCE * 100} %`, 'model one node alone s', 'model max upload ÷ image', 'measured from'],
    runs.map((run) => {
      const model = run.model.makespan / run.model.alone;
      return [
        run.name,
        layoutName(run.layout),
        run.ratio === undefined ? 'pending' : fixed(run.ratio),
        fixed(model),
        run.ratio === undefined ? '–' : fixed(model / run.ratio),
        run.ratio === undefined ? 'pending' : withinTolerance(model, run.ratio) ? '✓' : '✗',
        fixed(run.model.alone, 1),
        fixed(run.model.maxUpload / run.model.imageBytes),
        run.source,
      ];
    }),
  );
}
