// Package simulate writes simulated fMRI subjects: a seeded forward encoding
// model of visual cortex (Naselaris et al. 2011) whose responses are written
// in the publishers' file layouts, so that the real loaders read them through
// the same path a user's data takes, together with the model's own truth and
// the ideal-observer ceiling every decoder is measured against (issue 3;
// data-formats.md §5).
//
// # Stimuli
//
// Procedural (procedural.go): coloured, textured objects on backgrounds. A
// category is a shape family (20), colour palette (10), surface texture (7)
// and background scheme (8); the fixed table picks combinations that differ
// in at least two attributes (a few hundred available, 200 used by god).
// Images vary in position, scale, pose, colour, texture and background
// details. One shape family is face-like and three backgrounds are scenes,
// which FFA- and PPA-like voxels prefer. Rendering is pure Go and
// deterministic (signed distances with antialiasing). Fashion-MNIST IDX
// files (sources.go, idx.go; Debian dataset-fashion-mnist) and any folder of
// PNG/JPEG images (sub-folders are categories; a folder named like an
// ImageNet synset, n01440764, gives its real WordNet offset) also work.
//
// # Encoding model (features.go, pooling.go, subject.go, response.go)
//
// Images are seen as 64×64 luminance over a 12° field (GOD's stimulus size).
// Phase-invariant Gabor energy (8 orientations, 4 octave-spaced spatial
// frequencies, 16–2 cycles per image) is summarised per level as the mean
// energy and its second orientation harmonic. Early voxels (V1, V2, V3, hV4)
// have Gaussian population receptive fields (Dumoulin & Wandell 2008):
// centres spread over the cortex with magnification M(E) ∝ 1/(E+0.75),
// sizes σ = a + b·E with b growing up the hierarchy; they pool the energy,
// weight the frequency levels around a preference that falls with
// eccentricity and area, weight orientations weakly and idiosyncratically,
// and compress the pooled drive with an exponent below 1 (Kay et al. 2013).
// hV4 adds pooled colour opponents. Higher voxels (LOC, FFA, PPA) read a
// distributed category code shared by all subjects (the sum of one random
// vector per attribute value plus one per category, so codes overlap;
// Haxby et al. 2001) through subject-specific, spatially smooth loadings,
// plus face/place selectivity and some large-pRF low-level drive. A share of
// voxels has little visual drive; pRFs beyond the image see only grey. Each
// subject draws its ROI sizes, pRF slopes, exponents, gains, SNR, category
// strength, voxel layout and fine-scale tuning from its own seed, so a
// decoder does not transfer between subjects unaligned. Voxels are ordered
// as a C-order mask over a 3 mm volume would list them, and voxels outside
// visual cortex (12% of VC by default) carry only noise.
//
// # Noise (noise.go, noisemodel.go)
//
// Variability has a low-rank plus diagonal covariance. Factors: smooth
// physiological fluctuations over the 3-D voxel layout (fresh every trial);
// feature-channel noise on a log-polar grid of visual-field blobs at every
// frequency level, read out through each voxel's pRF, gain and linearised
// exponent; and category-code noise read out through the loadings. 90% of
// the latter two and an idiosyncratic per-voxel term are stimulus-locked:
// drawn once per image and shared by its repeats. This is the part of a
// voxel's repeatable response that the encoding model does not explain, as
// in real data, where a voxel's noise ceiling lies above any model's
// accuracy. The rest, and each voxel's thermal noise, is fresh per trial.
//
// Why stimulus-locked variability: with trial noise alone, averaging 35
// repeats multiplies the ideal observer's information by 35 but leaves the
// single training trials as they are. Measured on this model, noise that
// brings the 50-way ceiling below 1 (about ×10 the default trial noise)
// leaves ridge decoders trained on the 1,200 single trials at chance, and
// noise that lets them learn puts the ceiling at 1.000 for every n ≤ 50,
// even from single trials. Locked variability limits the ideal observer and
// the decoders alike.
//
// # Designs and files
//
// god (god.go, write.go): 150 training categories × 8 images, each shown
// once, and 50 novel test categories × 1 image shown 35 times (GOD), in
// the layout of cad-spec §1.1 (vis_dec code/dataset.py:203-311):
//
//	DIR/sbj_N.npz            arr_0 (1200, n_all) float32: training trials, presentation order
//	                         arr_1 (1750, n_all) float32: test trials, image 0's 35 repeats, then image 1's, …
//	                         arr_2 (50, n_all) float32: the mean of each image's 35 arr_1 rows
//	                         arr_3 (1200,) int64: train_images index of each arr_0 row
//	                         V1 V2 V3 hV4 LOC FFA PPA LVC HVC VC (n_all,) bool: ROI masks (LVC = V1–hV4,
//	                         HVC = LOC+FFA+PPA, VC = both; the other voxels are outside visual cortex)
//	DIR/images_256.npz       train_images (1200, 256, 256, 3), test_images (50, 256, 256, 3) uint8,
//	                         shared by every subject; test order = arr_2 order
//	DIR/imagenet_class_index.json   Keras form {"0": ["n01000017", "red_striped_star_on_sky"], …}:
//	                         training categories in order of first appearance, then test categories
//	DIR/imagenet_training_label.csv, imagenet_testing_label.csv   one row per image (images_256
//	                         order): GOD stimulus id "OFFSET.NUMBER" (e.g. "1000017.000003", the
//	                         integer part the synthetic WordNet offset), file name, category name
//
// miyawaki (miyawaki.go): the same layout, with 440 random 10×10 patterns
// for training and 10 figure patterns × 35 repeats for testing, at a
// quieter noise level (miyawakiNoise); the patterns are in
// truth/stimuli.npz.
//
// hcp (hcp.go): DIR/<id>/HCP_visual_voxel.npz with V1, V2, V3, V4, each
// (1200 frames, voxels) float64 z-scored over time (cad-spec §1.3,
// data/HCP/preprocess_hcp.py:40-46); ids are six digits from 100001.
//
// truth/ (all designs):
//
//	config.json              the Config and the model's constants
//	stimuli.npz              {train,test}_category int64, _face/_place bool, _embedding (N, 24) float64
//	                         (category code), _object (N, 4) float64 (procedural object centre x, y in
//	                         [−1, 1], radius, angle; NaN otherwise), _luminance (N, 64, 64) float32
//	                         (what the features see, minus mid-grey); miyawaki: {train,test}_patterns
//	sbj_N.npz (hcp: hcp_<id>.npz)  per voxel in file order: roi int64 (0 none, 1 V1, 2 V2, 3 V3, 4 hV4,
//	                         5 LOC, 6 FFA, 7 PPA), xyz_mm (n, 3), prf_x, prf_y, prf_sigma (degrees,
//	                         y up, image centre 0), exponent, sf_weights (n, 4; levels 16, 8, 4, 2
//	                         cycles/image), ori_bias, ori_pref (radians, y up), low_weight,
//	                         colour_rg, colour_by, cat_weight, cat_loadings (n, 24), face_weight,
//	                         place_weight, gain, drive, baseline; noise_factors (n, K) float64,
//	                         noise_locked (K), noise_group_start (physiological, feature, category),
//	                         noise_diag (n), noise_locked_diag (n); signal_train (1200, n) and
//	                         signal_test (50, n) float32 (noiseless responses, images_256 order);
//	                         hcp adds hrf_scale (n) and stream (frames) (the pool image per frame)
//	reliability_sbj_N.npz    split_half (n): per voxel, the correlation across test images of the
//	                         means of the even and the odd repeats; spearman_brown (n) = 2r/(1+r)
//	ceiling.json             CeilingFile: per subject, n-way identification for n = 2, 10, 50 with
//	                         chance 1/n, and a reliability summary (ReadCeiling)
//
// # The ceiling (ceiling.go)
//
// The ideal observer knows the true model: given image j, the mean of R
// test repeats is Gaussian with mean the noiseless response to j and
// covariance Σ_locked + Σ_trial/R over the VC voxels, and candidates are
// ranked by log-likelihood, a Mahalanobis distance evaluated with the
// Woodbury identity (only K×K systems, K ≈ 380). "accuracy" is on the
// written arr_2, averaged exactly over all random candidate sets (with kᵢ
// candidates beating the truth for item i, C(49−kᵢ, n−1)/C(49, n−1)), which
// is the limit of repeated random sets; "expected" averages fresh draws of
// the test set (drawn in the 50-dimensional space of the means' Gram
// matrix, an exact shortcut); "single_trial" is the same from one repeat.
//
// Measured at the default (one subject, seeds 1–10, the full god design):
// 50-way expected 0.69–0.91 (mean 0.81), written 0.66–0.90; 10-way expected
// 0.88–0.98; 2-way 0.98–1.00; chance 0.02, 0.1, 0.5; from single trials the
// 50-way ceiling is 0.45–0.73. The spread is mostly
// the subjects' own variation in size (±15%) and SNR (×0.75–1.3). Median
// split-half reliability over VC is 0.90–0.95; visually driven early voxels
// reach 0.97, non-visual ones 0.
//
// The price of a ceiling below 1 is weak single trials: at the default
// noise the best early voxels' model SNR (signal variance over total noise
// variance) is about 0.02, and ridge decoders trained on the 1,200 single
// trials of a 1,500-voxel subject identify test images at 2-way 0.64,
// 10-way 0.19. At noise ×0.5 (--noise 0.5: the 50-way ceiling of a
// default-size subject rises to 0.99–1.00, seeds 1–3) the same decoders reach
// 2-way 0.81–0.86 and 10-way 0.38–0.49, pRF centres are recovered to about
// 0.5°, and single-trial category decoding is 0.29–0.37 (10-way); the
// literature tests run there (fixture_test.go).

// # Determinism and speed
//
// Every random quantity has its own PCG stream named by purpose and indices
// (rng.go), so files are byte-identical for a seed whatever the number of
// goroutines. A default god subject (about 4,500 voxels, 1,250 images,
// 2,950 trials) takes about 16 s of CPU and 12–20 s on the 2-core build
// machine, images included; an hcp subject about 1 s.
package simulate
