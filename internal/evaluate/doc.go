// Package evaluate scores reconstructions against their ground truths as the
// reference does (vis_dec code/eval_metrics.py, get_eval_metric in
// gen_eval.py:41-67 and ldm_finetune.py:49-75; cad-spec §5), and adds what a
// careful comparison needs: a seeded RNG, confidence intervals, chance levels,
// and correct variants next to the literal ones.
//
// Input is samples.npz (ReadSamples): uint8 [N, 1+S, H, W, 3], the ground
// truth of each test item at index 0 and S reconstructions ("sample sets")
// after it. Evaluate computes:
//
//   - pair-wise identification (pair_wise_score, eval_metrics.py:58-77): for
//     each item, the fraction of the other N−1 ground truths that its
//     reconstruction matches strictly worse than its own (ties fail); mean
//     over items, then over sets; chance 0.5. Metrics: MSE "literal"
//     (MSELiteral: uint8 arithmetic wrapping modulo 256, as eval_metrics.py:18
//     runs; cad-spec §6.29) and "correct" (MSE, float), PCC (np.corrcoef),
//     SSIM (skimage 0.19.3 structural_similarity, data_range 255,
//     channel_axis −1, over scipy's uniform_filter in mode "reflect"), and
//     LPIPS-alex (LPIPS v0.1: torchvision AlexNet taps + lin layers) when its
//     weights are given;
//   - n-way top-k semantic classification (n_way_top_k_acc and
//     get_n_way_top_k_acc, eval_metrics.py:113-146): the pseudo-label is the
//     classifier's prediction on the ground truth; per trial, n−1 distractor
//     classes are drawn from the other classes and the trial succeeds when
//     the pseudo-label's probability is among the top k; per-item mean over
//     trials; reported as the mean over sets ("top-1-class") and the max over
//     sets ("top-1-class (max)"), plus the exact expectation over draws. The
//     classifier is pluggable (Classifier): torchvision's ViT-H/14 SWAG E2E
//     (ViT, from the user's .pth, with PIL-exact bicubic preprocessing), or a
//     small CNN visdec trains on the simulator's categories
//     (TrainCategoryClassifier);
//   - n-way identification among the test items (n_way_scores,
//     eval_metrics.py:79-105, unused by the reference) for n = 2, 10, 50, by
//     pixel correlation and by classifier features;
//   - for every metric, a percentile bootstrap confidence interval over test
//     items (BootstrapCI) and its chance level.
//
// Knowing differences from the reference, each also noted where it is
// implemented: every random draw is seeded (the reference's np.random is
// unseeded at evaluation, cad-spec §6.30), with Go's PCG rather than
// numpy's MT19937, so individual draws differ while their distribution is the
// same; the classifier is built once, not once per call; a tie between the
// true class and a distractor counts as a failure.
//
// Parity: parity_test.go checks every fixture in testdata/parity/metrics/
// (and $VISDEC_PARITY_DIR/metrics/): the full MSE, PCC and SSIM matrices,
// pair-wise scores per item, set and as reported, and n-way accuracies from
// the saved probabilities and distractor draws. testdata/gen_*.py
// (numpy, scipy, skimage 0.19.3, Pillow 9.4, torch 1.13) made the extra
// goldens in testdata/.
package evaluate
