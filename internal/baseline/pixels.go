package baseline

import (
	"fmt"
	"math"

	"github.com/visdec/visdec/internal/data"
	"github.com/visdec/visdec/internal/imageops"
)

// Reconstruction is a baseline's output on a test set, in the layout the
// evaluation reads: Samples is uint8 [N, 2, Size, Size, 3] with index 0 the
// ground truth and index 1 the reconstruction.
type Reconstruction struct {
	N, Size int
	Samples []uint8
	Lambda  float64 // the ridge λ chosen by leave-one-out on the training set
	Target  string  // what was regressed: "pixels" or "latents"
}

// Pixels fits a ridge regression from fMRI to the training images' pixels at
// size×size and reconstructs the test images. Only training items are used
// to fit and to choose λ.
func Pixels(ds *data.Dataset, size int) (*Reconstruction, error) {
	tr, te := &ds.Train, &ds.Test
	if tr.Images == nil || te.Images == nil {
		return nil, fmt.Errorf("ridge baseline: %s has no stimulus images", ds.Name)
	}
	p := size * size * 3
	y := make([]float32, tr.N*p)
	for i := 0; i < tr.N; i++ {
		small := imageops.Resize(tr.Image(i), tr.H, tr.W, size, size)
		for j, v := range small {
			y[i*p+j] = float32(v)
		}
	}
	r, err := FitRidge(tr.FMRI, tr.N, ds.Voxels, y, p, nil)
	if err != nil {
		return nil, fmt.Errorf("ridge baseline on %s: %w", ds.Name, err)
	}
	pred, err := r.Predict(te.FMRI, te.N)
	if err != nil {
		return nil, err
	}
	rec := &Reconstruction{N: te.N, Size: size, Lambda: r.Lambda(), Target: "pixels",
		Samples: make([]uint8, te.N*2*p)}
	for i := 0; i < te.N; i++ {
		copy(rec.Samples[(2*i)*p:], imageops.Resize(te.Image(i), te.H, te.W, size, size))
		out := rec.Samples[(2*i+1)*p : (2*i+2)*p]
		for j := range out {
			out[j] = uint8(math.Round(math.Max(0, math.Min(255, float64(pred[i*p+j])))))
		}
	}
	return rec, nil
}

// Latents fits a ridge regression from fMRI to latent codes of the training
// images (encode gives one latent vector per image) and decodes the predicted
// test latents back to size×size images with decode. It is the "ridge to the
// autoencoder's latents" baseline.
func Latents(ds *data.Dataset, size int,
	encode func(imgs []uint8, n, h, w int) ([]float32, int, error),
	decode func(latents []float32, n int) ([]uint8, error)) (*Reconstruction, error) {
	tr, te := &ds.Train, &ds.Test
	if tr.Images == nil || te.Images == nil {
		return nil, fmt.Errorf("ridge baseline: %s has no stimulus images", ds.Name)
	}
	z, dim, err := encode(tr.Images, tr.N, tr.H, tr.W)
	if err != nil {
		return nil, err
	}
	r, err := FitRidge(tr.FMRI, tr.N, ds.Voxels, z, dim, nil)
	if err != nil {
		return nil, fmt.Errorf("ridge-to-latents baseline on %s: %w", ds.Name, err)
	}
	pred, err := r.Predict(te.FMRI, te.N)
	if err != nil {
		return nil, err
	}
	imgs, err := decode(pred, te.N)
	if err != nil {
		return nil, err
	}
	p := size * size * 3
	if len(imgs) != te.N*p {
		return nil, fmt.Errorf("ridge-to-latents baseline: decoder gave %d bytes, want %d×%d×%d×3", len(imgs), te.N, size, size)
	}
	rec := &Reconstruction{N: te.N, Size: size, Lambda: r.Lambda(), Target: "latents",
		Samples: make([]uint8, te.N*2*p)}
	for i := 0; i < te.N; i++ {
		copy(rec.Samples[(2*i)*p:], imageops.Resize(te.Image(i), te.H, te.W, size, size))
		copy(rec.Samples[(2*i+1)*p:], imgs[i*p:(i+1)*p])
	}
	return rec, nil
}
