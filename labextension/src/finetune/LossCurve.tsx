import * as React from 'react';

/** A point of a curve: the optimiser step and the value at it. */
export interface ICurvePoint {
  step: number;
  value: number;
}

const WIDTH = 320;
const HEIGHT = 140;
const PAD = { left: 40, right: 8, top: 8, bottom: 20 };

/** Short rendering of an axis value: 2.31, 0.0042, 1.2e-5. */
export function axisNumber(value: number): string {
  if (value === 0) {
    return '0';
  }
  const abs = Math.abs(value);
  if (abs >= 1000 || abs < 0.001) {
    return value.toExponential(1);
  }
  return value.toPrecision(3).replace(/\.?0+$/, '');
}

/**
 * Scales of a plot of `series` over steps 0..`lastStep`: the step range runs
 * to the total when known, so the curve grows from the left as training goes.
 */
export function scales(
  series: ICurvePoint[][],
  lastStep: number | null
): {
  x: (step: number) => number;
  y: (value: number) => number;
  min: number;
  max: number;
  steps: number;
} {
  const all = series.flat().filter(p => Number.isFinite(p.value));
  const maxStep = Math.max(1, lastStep ?? 0, ...all.map(p => p.step));
  let min = Math.min(...all.map(p => p.value));
  let max = Math.max(...all.map(p => p.value));
  if (!Number.isFinite(min) || !Number.isFinite(max)) {
    min = 0;
    max = 1;
  }
  if (max - min < 1e-9) {
    // A flat curve sits in the middle of the plot.
    const pad = Math.abs(max) * 0.1 || 1;
    min -= pad;
    max += pad;
  }
  const innerW = WIDTH - PAD.left - PAD.right;
  const innerH = HEIGHT - PAD.top - PAD.bottom;
  return {
    x: step => PAD.left + (step / maxStep) * innerW,
    y: value => PAD.top + (1 - (value - min) / (max - min)) * innerH,
    min,
    max,
    steps: maxStep
  };
}

/**
 * The loss curve of a fine-tune as an SVG: the training loss per step as a
 * line, the validation loss at checkpoints as dots. Re-drawn as points come.
 */
export function LossCurve(props: {
  train: ICurvePoint[];
  evals: ICurvePoint[];
  totalSteps: number | null;
}): JSX.Element {
  const { train, evals } = props;
  const s = scales([train, evals], props.totalSteps);
  const line = train
    .map(p => `${s.x(p.step).toFixed(1)},${s.y(p.value).toFixed(1)}`)
    .join(' ');
  const last = train.length ? train[train.length - 1] : null;
  const bottom = HEIGHT - PAD.bottom;
  return (
    <figure
      className="sxwl-ft-curve"
      data-testid="sxwl-ft-curve"
      data-points={train.length}
      data-last-step={last?.step ?? 0}
    >
      <svg
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        role="img"
        aria-label={
          last
            ? `Loss curve: ${train.length} points, loss ${axisNumber(last.value)} at step ${last.step}`
            : 'Loss curve: no points yet'
        }
      >
        <line
          className="sxwl-ft-axis"
          x1={PAD.left}
          y1={PAD.top}
          x2={PAD.left}
          y2={bottom}
        />
        <line
          className="sxwl-ft-axis"
          x1={PAD.left}
          y1={bottom}
          x2={WIDTH - PAD.right}
          y2={bottom}
        />
        <text
          className="sxwl-ft-tick"
          x={PAD.left - 4}
          y={PAD.top + 8}
          textAnchor="end"
        >
          {axisNumber(s.max)}
        </text>
        <text
          className="sxwl-ft-tick"
          x={PAD.left - 4}
          y={bottom}
          textAnchor="end"
        >
          {axisNumber(s.min)}
        </text>
        <text
          className="sxwl-ft-tick"
          x={PAD.left}
          y={HEIGHT - 6}
          textAnchor="start"
        >
          0
        </text>
        <text
          className="sxwl-ft-tick"
          x={WIDTH - PAD.right}
          y={HEIGHT - 6}
          textAnchor="end"
        >
          step {s.steps}
        </text>
        {train.length > 1 && (
          <polyline className="sxwl-ft-line" points={line} />
        )}
        {train.length === 1 && last && (
          <circle
            className="sxwl-ft-dot"
            cx={s.x(last.step)}
            cy={s.y(last.value)}
            r={2.5}
          />
        )}
        {evals.map(p => (
          <circle
            key={p.step}
            className="sxwl-ft-eval-dot"
            cx={s.x(p.step)}
            cy={s.y(p.value)}
            r={3}
          >
            <title>
              validation loss {axisNumber(p.value)} at step {p.step}
            </title>
          </circle>
        ))}
      </svg>
      <figcaption className="sxwl-muted">
        {last ? (
          <>
            <span className="sxwl-ft-key sxwl-ft-key-train" /> loss{' '}
            {axisNumber(last.value)} at step {last.step}
            {evals.length > 0 && (
              <>
                {' · '}
                <span className="sxwl-ft-key sxwl-ft-key-eval" /> validation{' '}
                {axisNumber(evals[evals.length - 1].value)}
              </>
            )}
          </>
        ) : (
          'The curve starts with the first optimiser step.'
        )}
      </figcaption>
    </figure>
  );
}
