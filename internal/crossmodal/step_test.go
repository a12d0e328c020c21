package crossmodal

import (
	"math"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/visdec/visdec/internal/backend"
	"github.com/visdec/visdec/internal/fmrimae"
	"github.com/visdec/visdec/internal/nn"
	"github.com/visdec/visdec/internal/parity"
)

// TestJointStepParity checks one Phase-2 training step against the
// reference's train_one_epoch_cross: every intermediate, both losses and
// their weighted sum, the gradients of all trainable parameters of both
// models (the image loss reaching the fMRI encoder through its support),
// the frozen set, the learning rate and the per-model gradient norms, the
// last through nn.Trainer with one clip group per model.
func TestJointStepParity(t *testing.T) {
	parity.ForEach(t, "cross", "step_", func(t *testing.T, f *parity.Fixture) {
		c := fixtureConfig(t, f)
		var tc struct {
			Trainer struct {
				LR           float64 `json:"lr"`
				MinLR        float64 `json:"min_lr"`
				WarmupEpochs float64 `json:"warmup_epochs"`
				NumEpoch     float64 `json:"num_epoch"`
				Epoch        float64 `json:"epoch"`
				Step         float64 `json:"data_iter_step"`
				ClipGrad     float64 `json:"clip_grad"`
				WeightDecay  float64 `json:"weight_decay"`
			} `json:"trainer"`
		}
		if err := f.Config(&tc); err != nil {
			t.Fatal(err)
		}
		ps := nn.NewParams()
		DeclareAlign(nn.NewInit(ps, 1), c)
		src := map[string]nn.Tensor{}
		for k, v := range f.Tensors(t, "param/") {
			model, name, _ := strings.Cut(k, "/")
			src[model+"."+name] = v
		}
		loadExact(t, ps, src)
		checkTrainable(t, f, ps, fmriPrefix, "fmri/")
		checkTrainable(t, f, ps, imagePrefix, "image/")

		b := f.Shape(t, "in/fmri")[0]
		lf, li := c.FMRI.NumPatches(), c.Image.NumPatches()
		mask := func(key string, l int, ratio float64) fmrimae.Mask {
			m, err := fmrimae.NewMask(f.F32(t, key), b, l, ratio)
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
		mIS, mF := mask("in/noise_img_support", li, 0), mask("in/noise_fmri", lf, c.FMRI.MaskRatio)
		mFS, mI := mask("in/noise_fmri_support", lf, 0), mask("in/noise_img", li, c.ImageMaskRatio)
		f.Check(t, "out/img_support_ids_restore", intsToF32(mIS.Restore))
		f.Check(t, "out/mask_fmri", mF.Removed)
		f.Check(t, "out/ids_restore_fmri", intsToF32(mF.Restore))
		f.Check(t, "out/fmri_support_ids_restore", intsToF32(mFS.Restore))
		f.Check(t, "out/mask_img", mI.Removed)
		f.Check(t, "out/ids_restore_img", intsToF32(mI.Restore))

		inputs := []*tensors.Tensor{fmriInput(t, f, "in/fmri"), fixtureTensor(t, f, "in/pixel_values"),
			mIS.KeepTensor(), mF.KeepTensor(), mFS.KeepTensor(), mI.KeepTensor()}
		objective := func(v nn.Vars, in []*Node) Terms {
			return Objective(v, c, in[0], in[1], in[2], in[3], in[4], in[5])
		}
		trainable := trainableNames(ps, "")
		r := runGraph(t, ps, inputs, trainable, nil, func(v nn.Vars, in []*Node) ([]*Node, *Node) {
			tm := objective(v, in)
			return []*Node{tm.ImgSupport, tm.FMRILatent, tm.FMRIPred, tm.FMRILoss, tm.FMRISupport, tm.ImageLogits, tm.ImageLoss, tm.Total}, tm.Total
		})
		for i, key := range []string{"out/img_support", "out/latent_fmri", "out/pred_fmri", "out/loss_fmri", "out/fmri_support", "out/logits_img", "out/loss_img", "out/loss_total"} {
			f.Check(t, key, nn.ToFloat32(r.outs[i]))
		}
		norms := map[string]float64{}
		for _, name := range trainable {
			model, rest, _ := strings.Cut(name, ".")
			f.Check(t, "grad/"+model+"/"+rest, r.grads[name])
			for _, g := range r.grads[name] {
				norms[model] += float64(g) * float64(g)
			}
		}
		f.Check64(t, "out/grad_norm_fmri", []float64{math.Sqrt(norms["fmri"])})
		f.Check64(t, "out/grad_norm_image", []float64{math.Sqrt(norms["image"])})

		tr := tc.Trainer
		lr := nn.WarmupCosine(tr.LR, tr.MinLR, tr.WarmupEpochs, tr.NumEpoch, tr.Epoch+tr.Step)
		f.Check64(t, "out/lr", []float64{lr})

		// The same step through nn.Trainer: its loss and its per-model
		// norms (before clipping) must be the reference's.
		step := StepConfig(c)
		step.ClipNorm = tr.ClipGrad
		trainer, err := nn.NewTrainer(backend.Default(), ps, step, func(v nn.Vars, in []*Node) (*Node, []*Node) {
			return objective(v, in).Total, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		res, err := trainer.Step(lr, inputs...)
		if err != nil {
			t.Fatal(err)
		}
		f.Check64(t, "out/loss_total", []float64{res.Loss})
		f.Check64(t, "out/grad_norm_fmri", res.GradNorms[:1])
		f.Check64(t, "out/grad_norm_image", res.GradNorms[1:])
	})
}
