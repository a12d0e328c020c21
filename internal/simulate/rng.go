package simulate

import (
	"math"
	"math/rand/v2"
	"sync"
)

// Random streams. Every random quantity comes from its own PCG stream named by
// a purpose and indices, so results do not depend on the order in which
// goroutines run, and adding a draw in one place never shifts another.
const (
	streamCategories uint64 = iota + 1
	streamImage
	streamDesign
	streamSubject
	streamTrialNoise
	streamCeiling
	streamHCP
	streamMiyawaki
	streamStimulusIDs
	streamStimulusNoise
)

// mix is splitmix64's finaliser: it spreads nearby integers far apart.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// newRand returns the stream for (seed, purpose, indices...).
func newRand(seed uint64, purpose uint64, idx ...uint64) *rand.Rand {
	h := mix(seed ^ mix(purpose))
	for _, i := range idx {
		h = mix(h ^ mix(i+0x632be59bd9b4e019))
	}
	return rand.New(rand.NewPCG(h, mix(h^0x5851f42d4c957f2d)))
}

// uniform draws from [lo, hi).
func uniform(r *rand.Rand, lo, hi float64) float64 { return lo + (hi-lo)*r.Float64() }

// logNormal draws exp(N(0, sd²)).
func logNormal(r *rand.Rand, sd float64) float64 { return math.Exp(sd * r.NormFloat64()) }

// parallel runs f(i) for i in [0, n) on at most workers goroutines. Work is
// handed out in index order; each f must write only its own outputs.
func parallel(n, workers int, f func(i int)) {
	if workers < 1 {
		workers = 1
	}
	if workers > n {
		workers = n
	}
	if workers <= 1 {
		for i := 0; i < n; i++ {
			f(i)
		}
		return
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := 0
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}
