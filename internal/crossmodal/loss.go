package crossmodal

import (
	. "github.com/gomlx/gomlx/core/graph"

	"github.com/visdec/visdec/internal/fmrimae"
	"github.com/visdec/visdec/internal/nn"
	"github.com/visdec/visdec/internal/stats"
)

// MaskedMSE is MAE's forward_loss on image patches (mae_for_image.py:
// 987-1001): the per-patch mean squared error of pred against target (both
// [B, L, P]) averaged over the removed patches (mask [B, L], 1 = removed).
// The fMRI side uses fmrimae.MaskedMSE.
func MaskedMSE(pred, target, mask *Node) *Node {
	perPatch := ReduceMean(Square(Sub(pred, target)), -1) // [B, L]
	return Div(ReduceAllSum(Mul(perPatch, mask)), ReduceAllSum(mask))
}

// NormPixTarget normalises each target patch [B, L, P] by its mean and
// unbiased variance: (t − mean)/√(var + 1e-6), the norm_pix_loss branch.
func NormPixTarget(target *Node) *Node {
	p := target.Shape().Dimensions[2]
	mean := ReduceAndKeep(target, ReduceMean, -1)
	c := Sub(target, mean)
	variance := DivScalar(ReduceAndKeep(Square(c), ReduceSum, -1), float64(p-1))
	return Div(c, Sqrt(AddScalar(variance, 1e-6)))
}

// ImageLoss is the image MAE's masked pixel MSE in the normalised pixel space:
// pred [B, L, p·p·C] against the patchified pixels [B, C, H, W].
func ImageLoss(c ImageConfig, pixels, pred, mask *Node) *Node {
	target := Patchify(c, pixels)
	if c.NormPixLoss {
		target = NormPixTarget(target)
	}
	return MaskedMSE(pred, target, mask)
}

// SampleCorr is the Pearson correlation of a and b per sample: both are
// [B, ...] and flattened per sample; weights (same shape, or nil) restrict
// it to the elements with weight 1. The result is [B].
//
// This is the correct per-sample reconstruction correlation the training
// logs; the reference's image "corr" compares two predicted patches
// (ReferenceImageCorr).
func SampleCorr(a, b, weights *Node) *Node {
	n := a.Shape().Dimensions[0]
	a, b = Reshape(a, n, -1), Reshape(b, n, -1)
	if weights == nil {
		weights = OnesLike(a)
	} else {
		weights = Reshape(weights, n, -1)
	}
	count := ReduceAndKeep(weights, ReduceSum, 1)
	ma := Div(ReduceAndKeep(Mul(a, weights), ReduceSum, 1), count)
	mb := Div(ReduceAndKeep(Mul(b, weights), ReduceSum, 1), count)
	ca, cb := Mul(Sub(a, ma), weights), Mul(Sub(b, mb), weights)
	cov := ReduceSum(Mul(ca, cb), 1)
	va, vb := ReduceSum(Square(ca), 1), ReduceSum(Square(cb), 1)
	return Div(cov, Sqrt(AddScalar(Mul(va, vb), 1e-20)))
}

// ReferenceImageCorr reproduces vis_dec's calc_corr (mae_for_image.py:
// 1003-1011) for parity only: torch.corrcoef(cat([pred_n, target_n]))[0, 1]
// with pred_n [L, P] is the correlation between PREDICTED patches 0 and 1 of
// sample n, averaged over the batch (cad-spec §6 item 15). pred is [B, L, P].
func ReferenceImageCorr(pred []float32, b, l, p int) float64 {
	var sum float64
	for i := 0; i < b; i++ {
		x := pred[(i*l)*p : (i*l+1)*p]
		y := pred[(i*l+1)*p : (i*l+2)*p]
		sum += stats.Pearson(x, y)
	}
	return sum / float64(b)
}

// Terms are the values of one evaluation of the Phase-2 objective.
type Terms struct {
	Total       *Node // FMRIWeight·FMRILoss + ImageWeight·ImageLoss (scalar)
	FMRILoss    *Node // fMRI masked MSE, unweighted
	ImageLoss   *Node // image masked pixel MSE, unweighted
	ImgSupport  *Node // frozen image encoder, all tokens, no cross: [B, 1+Li, H_img]
	FMRILatent  *Node // fMRI encoder with image support: [B, 1+Kf, D]
	FMRIPred    *Node // fMRI decoder output: [B, Lf, P]
	FMRISupport *Node // fMRI encoder, all tokens, no cross, not detached: [B, 1+Lf, D]
	ImageLogits *Node // image decoder output with fMRI support: [B, Li, p·p·C]
	// Per-sample correlations, averaged over the batch (no gradient): the
	// fMRI reconstruction against its input (the reference's "cor"), and
	// the image reconstruction against the input pixels over all patches
	// and over the removed patches only.
	FMRICorr, ImageCorr, ImageCorrMasked *Node
}

// Objective is one step of train_one_epoch_cross (trainer.py:77-136) on the
// joint parameter set v ("fmri." and "image." prefixes):
//
//	img_support  = image encoder(pixels, mask 0)               frozen, no cross
//	L_f          = fMRI MAE(fmri, mask keepFMRI, K/V = img_support)
//	fmri_support = fMRI encoder(fmri, mask 0)                  no cross, NOT detached
//	L_img        = image MAE(pixels, mask keepImg, K/V = cross_map_in(fmri_support))
//	loss         = FMRIWeight·L_f + ImageWeight·L_img
//
// so the image loss trains the fMRI encoder through fmri_support (cad-spec
// §6 item 18). fmri is [B, V], pixels [B, C, H, W] ImageNet-normalised; the
// keep selections come from four independent masks: the image and fMRI
// support passes at ratio 0 (a random permutation of all tokens, harmless
// for keys and values), the fMRI pass at c.FMRI.MaskRatio and the image pass
// at c.ImageMaskRatio.
func Objective(v nn.Vars, c Config, fmri, pixels, keepImgSupport, keepFMRI, keepFMRISupport, keepImg *Node) Terms {
	var t Terms
	fv, iv := v.In("fmri"), v.In("image")
	t.ImgSupport = ImageEncode(iv, c.Image, pixels, keepImgSupport, nil)
	t.FMRILatent = FMRIEncode(fv, c, fmri, keepFMRI, t.ImgSupport)
	t.FMRIPred = fmrimae.Decode(fv, c.FMRI, t.FMRILatent, keepFMRI)
	t.FMRILoss = fmrimae.MaskedMSE(c.FMRI, t.FMRIPred, fmri, OneMinus(ReduceSum(keepFMRI, 1)))
	t.FMRISupport = FMRIEncode(fv, c, fmri, keepFMRISupport, nil)
	latent := ImageEncode(iv, c.Image, pixels, keepImg, t.FMRISupport)
	t.ImageLogits = ImageDecode(iv, c.Image, latent, keepImg)
	removed := OneMinus(ReduceSum(keepImg, 1)) // [B, Li]
	t.ImageLoss = ImageLoss(c.Image, pixels, t.ImageLogits, removed)
	t.Total = Add(MulScalar(t.FMRILoss, c.FMRIWeight), MulScalar(t.ImageLoss, c.ImageWeight))

	t.FMRICorr = StopGradient(fmrimae.PearsonRows(fmrimae.Unpatchify(t.FMRIPred), fmri))
	t.ImageCorr, t.ImageCorrMasked = imageCorrs(c.Image, pixels, t.ImageLogits, removed)
	return t
}

// imageCorrs are the batch means of the per-sample correlation between the
// predicted and the input pixels, over all patches and over the removed
// ones (removed [B, L]), without gradient.
func imageCorrs(c ImageConfig, pixels, pred, removed *Node) (all, masked *Node) {
	target := Patchify(c, pixels)
	w := BroadcastToDims(InsertAxes(removed, -1), target.Shape().Dimensions...)
	return StopGradient(ReduceAllMean(SampleCorr(pred, target, nil))),
		StopGradient(ReduceAllMean(SampleCorr(pred, target, w)))
}
