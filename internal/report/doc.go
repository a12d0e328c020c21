// Package report turns evaluation results into files people open: metrics.json
// (every metric with its confidence interval, chance level, per-set values and
// labels), metrics.csv, grid.png (each test item's ground truth beside all of
// its samples) and report.html, one self-contained page with the metric table
// (with baseline and ceiling columns when given), training curves from run
// directories' metrics.jsonl as inline SVG plots, and the ground truth beside
// every sample, inlined as PNG data URIs.
//
// It sees only evaluate.Results and evaluate.Samples; the reference logs the
// same numbers to wandb (vis_dec code/gen_eval.py:136-146).
package report
