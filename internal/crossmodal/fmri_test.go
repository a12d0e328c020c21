package crossmodal

import (
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/visdec/visdec/internal/fmrimae"
	"github.com/visdec/visdec/internal/nn"
	"github.com/visdec/visdec/internal/parity"
)

// fmriInput reads a fixture's fMRI (N, 1, V) as the [N, V] the model takes.
func fmriInput(t testing.TB, f *parity.Fixture, key string) *tensors.Tensor {
	t.Helper()
	s := f.Shape(t, key)
	return tensors.FromFlatDataAndDimensions(f.F32(t, key), s[0], s[len(s)-1])
}

// TestFMRICrossParity checks MAEforFMRICross with image support: masking,
// blocks, the cross stack with its outer residual, norm, decoder, the masked
// MSE and the gradients of every trainable parameter.
func TestFMRICrossParity(t *testing.T) {
	parity.ForEach(t, "cross", "fmri_", func(t *testing.T, f *parity.Fixture) {
		c := fixtureConfig(t, f)
		ps := nn.NewParams()
		DeclareFMRICross(nn.NewInit(ps, 1), c)
		loadExact(t, ps, f.Tensors(t, "param/"))
		checkTrainable(t, f, ps, "", "")

		b, l := f.Shape(t, "in/fmri")[0], c.FMRI.NumPatches()
		m, err := fmrimae.NewMask(f.F32(t, "in/noise"), b, l, c.FMRI.MaskRatio)
		if err != nil {
			t.Fatal(err)
		}
		f.Check(t, "out/mask", m.Removed)
		f.Check(t, "out/ids_restore", intsToF32(m.Restore))

		inputs := []*tensors.Tensor{fmriInput(t, f, "in/fmri"), fixtureTensor(t, f, "in/img_support"), m.KeepTensor()}
		trainable := trainableNames(ps, "")
		r := runGraph(t, ps, inputs, trainable, nil, func(v nn.Vars, in []*Node) ([]*Node, *Node) {
			x, support, keep := in[0], in[1], in[2]
			tr := traceFMRIEncode(v, c, x, keep, support)
			pred := fmrimae.Decode(v, c.FMRI, tr.Latent, keep)
			loss := fmrimae.MaskedMSE(c.FMRI, pred, x, OneMinus(ReduceSum(keep, 1)))
			return []*Node{tr.Blocks, tr.MapIn, tr.Cross, tr.MapOut, tr.Latent, pred, loss}, loss
		})
		for i, key := range []string{"out/blocks_out", "out/cross_map_in", "out/cross_blocks_out", "out/cross_map_out", "out/latent", "out/pred", "out/loss_fmri"} {
			f.Check(t, key, nn.ToFloat32(r.outs[i]))
		}
		for _, name := range trainable {
			f.Check(t, "grad/"+name, r.grads[name])
		}
	})
}
