package fmrimae

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"

	"github.com/visdec/visdec/internal/nn"
)

// LossWeights are the explicit weights of the phase-1 objective
//
//	L = λ_mask·L_mask + λ_sc·InfoNCE(P_A, x) + λ_cc·InfoNCE(P_A, P_B)
//
// (cad-spec §2.3-2.4). The reference never exposes them this way: its
// effective weights come from a misnamed attribute and unsettable defaults
// (cad-spec §6.10), so both readings are presets here.
type LossWeights struct {
	Mask          float64 `json:"lambda_mask"` // masked-patch MSE
	SelfContrast  float64 `json:"lambda_sc"`   // InfoNCE(full reconstruction of mask A, input)
	CrossContrast float64 `json:"lambda_cc"`   // InfoNCE(reconstruction A, reconstruction B)
	Temperature   float64 `json:"tau"`         // InfoNCE temperature (paper: 0.1)
}

// LossPresets are the named objectives:
//
//	cad          the paper's intent (README flags): λ = (1, 1, 0.5)
//	cad-literal  what the released code computes with those flags and
//	             --do_mask_loss: 1·L_mask + 0.5·(0.5·L_sc + 0.5·L_cc), λ = (1, 0.25, 0.25)
//	mindvis      MinD-Vis SC-MBM: the masked MSE only, λ = (1, 0, 0)
var LossPresets = map[string]LossWeights{
	"cad":         {Mask: 1, SelfContrast: 1, CrossContrast: 0.5, Temperature: 0.1},
	"cad-literal": {Mask: 1, SelfContrast: 0.25, CrossContrast: 0.25, Temperature: 0.1},
	"mindvis":     {Mask: 1, SelfContrast: 0, CrossContrast: 0, Temperature: 0.1},
}

// LossPreset returns the named loss weights.
func LossPreset(name string) (LossWeights, error) {
	w, ok := LossPresets[name]
	if !ok {
		names := make([]string, 0, len(LossPresets))
		for n := range LossPresets {
			names = append(names, n)
		}
		sort.Strings(names)
		return LossWeights{}, fmt.Errorf("unknown loss preset %q (have %s)", name, strings.Join(names, ", "))
	}
	return w, nil
}

// Validate checks the weights.
func (w LossWeights) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    float64
	}{{"lambda_mask", w.Mask}, {"lambda_sc", w.SelfContrast}, {"lambda_cc", w.CrossContrast}} {
		if !(f.v >= 0) || math.IsInf(f.v, 0) {
			errs = append(errs, fmt.Errorf("loss weight %s = %g must be finite and ≥ 0", f.name, f.v))
		}
	}
	if w.Mask == 0 && w.SelfContrast == 0 && w.CrossContrast == 0 {
		errs = append(errs, errors.New("every loss weight is 0"))
	}
	if w.SelfContrast+w.CrossContrast > 0 && !(w.Temperature > 0) {
		errs = append(errs, fmt.Errorf("InfoNCE temperature %g must be positive", w.Temperature))
	}
	return errors.Join(errs...)
}

// NeedsSecondPass reports whether the objective uses a second masked pass.
func (w LossWeights) NeedsSecondPass() bool { return w.CrossContrast != 0 }

// MaskedMSE is forward_loss (mae_for_fmri.py:533-545): the per-patch mean
// squared error over removed patches only, with no per-patch target
// normalisation (cad-spec §6.12). pred is [B, L, P], x [B, V] and removed
// [B, L] (1 = removed). With nothing removed it is 0, as in the reference.
func MaskedMSE(cfg Config, pred, x, removed *Node) *Node {
	perPatch := ReduceMean(Square(Sub(pred, Patchify(cfg, x))), -1) // [B, L]
	num := ReduceAllSum(Mul(perPatch, removed))
	den := Max(ReduceAllSum(removed), ScalarLike(num, 1))
	return Div(num, den)
}

// InfoNCE is info_nce with in-batch negatives (mae_for_fmri.py:410-476,
// negative_mode 'unpaired', negative_keys None): q and k [N, F] are
// L2-normalised (F.normalize, eps 1e-12), S = nxn_cos_sim(q̂, k̂) (which
// divides by max(‖q̂_i‖‖k̂_j‖, 1e-8) once more, as the reference does), and the
// loss is the mean cross-entropy of S/τ with labels 0..N-1: one direction,
// rows are queries.
func InfoNCE(q, k *Node, tau float64) *Node {
	q, k = l2Normalize(q), l2Normalize(k)
	num := Einsum("if,jf->ij", q, k)
	qn := ReduceSum(Square(q), 1) // [N]
	kn := ReduceSum(Square(k), 1)
	den := Max(Sqrt(Einsum("i,j->ij", qn, kn)), ScalarLike(num, 1e-8))
	logits := DivScalar(Div(num, den), tau)
	n := q.Shape().Dimensions[0]
	eye := identity(q.Graph(), n, q.DType())
	return Neg(ReduceAllMean(ReduceSum(Mul(LogSoftmax(logits, 1), eye), 1)))
}

// l2Normalize is F.normalize(x, dim=-1): x / max(‖x‖, 1e-12).
func l2Normalize(x *Node) *Node {
	norm := Sqrt(ReduceAndKeep(Square(x), ReduceSum, -1))
	return Div(x, Max(norm, ScalarLike(norm, 1e-12)))
}

func identity(g *Graph, n int, dt dtypes.DType) *Node {
	eye := make([]float32, n*n)
	for i := range n {
		eye[i*n+i] = 1
	}
	c := Const(g, eye)
	if dt != dtypes.Float32 {
		c = ConvertDType(c, dt)
	}
	return Reshape(c, n, n)
}

// ScalarLike is a scalar constant of x's dtype.
func ScalarLike(x *Node, v float64) *Node { return Scalar(x.Graph(), x.DType(), v) }

// PearsonRows is the mean over rows of the Pearson correlation between a[i]
// and b[i] ([N, F] each): the reference's logged "cor" (trainer.py:323-326).
func PearsonRows(a, b *Node) *Node {
	ca := Sub(a, ReduceAndKeep(a, ReduceMean, 1))
	cb := Sub(b, ReduceAndKeep(b, ReduceMean, 1))
	num := ReduceSum(Mul(ca, cb), 1)
	den := Sqrt(Mul(ReduceSum(Square(ca), 1), ReduceSum(Square(cb), 1)))
	return ReduceAllMean(Div(num, den))
}

// Terms are the outputs of one evaluation of the objective. Nodes that a
// configuration does not compute are nil.
type Terms struct {
	Total         *Node // weighted sum (scalar)
	Mask          *Node // L_mask, unweighted
	SelfContrast  *Node // InfoNCE(P_A, x), unweighted
	CrossContrast *Node // InfoNCE(P_A, P_B), unweighted
	Corr          *Node // mean per-sample Pearson r of P_A and x (no gradient)
	LatentA       *Node // [B, 1+K, D]
	PredA         *Node // [B, L, P]
	LatentB       *Node
	PredB         *Node
}

// Objective runs the masked pass A (and, when the cross-contrast weight is
// set, an independent pass B) and combines the losses as the reference's
// forward (mae_for_fmri.py:547-644) with explicit weights. x is [B, V];
// keepA, keepB are [B, K, L] selections (keepB may be nil when unused). The
// mask loss uses the patches removed by mask A.
func Objective(v nn.Vars, cfg Config, w LossWeights, x, keepA, keepB *Node) Terms {
	var t Terms
	t.LatentA = Encode(v, cfg, x, keepA)
	t.PredA = Decode(v, cfg, t.LatentA, keepA)
	fullA := Unpatchify(t.PredA) // [B, V]
	removedA := OneMinus(ReduceSum(keepA, 1))
	t.Mask = MaskedMSE(cfg, t.PredA, x, removedA)
	t.Total = MulScalar(t.Mask, w.Mask)
	if w.SelfContrast != 0 {
		t.SelfContrast = InfoNCE(fullA, x, w.Temperature)
		t.Total = Add(t.Total, MulScalar(t.SelfContrast, w.SelfContrast))
	}
	if w.CrossContrast != 0 {
		t.LatentB = Encode(v, cfg, x, keepB)
		t.PredB = Decode(v, cfg, t.LatentB, keepB)
		t.CrossContrast = InfoNCE(fullA, Unpatchify(t.PredB), w.Temperature)
		t.Total = Add(t.Total, MulScalar(t.CrossContrast, w.CrossContrast))
	}
	t.Corr = StopGradient(PearsonRows(fullA, x))
	return t
}
