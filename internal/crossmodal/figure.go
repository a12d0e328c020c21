package crossmodal

import (
	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/visdec/visdec/internal/imageops"
	"github.com/visdec/visdec/internal/nn"
)

// figureSide is the display size of each tile of the reconstruction figure.
const figureSide = 128

// WriteReconstructions draws the image side of alignment for up to n pairs
// as a PNG at path: one row per pair with the image, what the encoder saw
// (removed patches grey), the reconstruction (seen patches kept, removed ones
// predicted with the fMRI tokens as support) and the full prediction, as in
// the MAE paper's figures. params are the joint parameters in Params order
// (Trainer.Tensors or nn.ParamTensors); masks are drawn from seed.
func WriteReconstructions(path string, backend compute.Backend, ps *nn.Params, params []*tensors.Tensor, c Config, pairs Pairs, n int, seed uint64) error {
	n = min(n, pairs.N)
	if n == 0 {
		return nil
	}
	rows := make([]int, n)
	for i := range rows {
		rows[i] = i
	}
	in, err := StepInputs(newRNG(seed, streamVal), c, pairs, rows)
	if err != nil {
		return err
	}
	fwd, err := nn.NewForward(backend, ps.Names(), func(v nn.Vars, x []*Node) []*Node {
		return []*Node{alignObjective(v, c, x).ImageLogits}
	})
	if err != nil {
		return err
	}
	args := make([]any, len(in))
	for i, t := range in {
		args[i] = t
	}
	outs, err := fwd.Run(params, args...)
	if err != nil {
		return err
	}
	pred := nn.ToFloat32(outs[0]) // [n, L, p·p·3]
	keep := tensors.MustCopyFlatData[float32](in[5])
	pix := tensors.MustCopyFlatData[float32](in[1]) // [n, 3, S, S]
	s, p, g, l := c.Image.ImageSize, c.Image.PatchSize, c.Image.Grid(), c.Image.NumPatches()
	k, pd, img := len(keep)/(n*l), c.Image.PatchDim(), 3*s*s
	var tiles [][]uint8
	for i := 0; i < n; i++ {
		seen := make([]bool, l)
		for j := 0; j < k; j++ {
			for t := 0; t < l; t++ {
				if keep[(i*k+j)*l+t] == 1 {
					seen[t] = true
				}
			}
		}
		orig := pix[i*img : (i+1)*img]
		masked, recon, full := make([]float32, img), make([]float32, img), make([]float32, img)
		for t := 0; t < l; t++ {
			gy, gx := t/g, t%g
			for dy := 0; dy < p; dy++ {
				for dx := 0; dx < p; dx++ {
					for ch := 0; ch < 3; ch++ {
						at := ch*s*s + (gy*p+dy)*s + gx*p + dx
						predicted := pred[(i*l+t)*pd+(dy*p+dx)*3+ch] // channel-last patch layout
						full[at] = predicted
						if seen[t] {
							masked[at], recon[at] = orig[at], orig[at]
						} else {
							masked[at], recon[at] = (0.5-imageNetMean[ch])/imageNetStd[ch], predicted // grey
						}
					}
				}
			}
		}
		for _, x := range [][]float32{orig, masked, recon, full} {
			tiles = append(tiles, imageops.Resize(Denormalize(x, s), s, s, figureSide, figureSide))
		}
	}
	grid, gh, gw := imageops.Grid(tiles, n, 4, figureSide, figureSide, 4)
	return imageops.WritePNG(path, grid, gh, gw)
}
