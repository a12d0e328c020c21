// Package pyobj decodes Python pickle streams into inert Go values, without
// ever running Python code.
//
// It is the common ground of two readers: internal/torchckpt (PyTorch
// checkpoints, whose pickles hold tensors, optimizer state and, in the
// reference's Phase-1 checkpoints, a pickled Config_MBM_fMRI_contrast object)
// and internal/data (BOLD5000's img_dict.npy, an object array holding a dict
// of uint8 NumPy arrays).
//
// The pickle virtual machine is github.com/nlpodyssey/gopickle. What this
// package adds:
//
//   - a tolerant class resolver: every global that is not a container or a
//     NumPy array becomes an inert *Object recording its class name,
//     constructor arguments and state (torch._utils._rebuild_parameter is
//     unwrapped to its tensor, torch.Size to its tuple, _codecs.encode to
//     bytes); nothing is imported or executed;
//   - its own decoder for numpy.core.multiarray._reconstruct + ndarray state
//     and numpy.dtype, so pickled NumPy arrays come back as *npy.Array, and
//     NumPy scalars as Go numbers;
//   - a pre-scan of the opcode stream (as Python's pickletools.genops) that
//     rejects any length field pointing past the end of the data before the
//     decoder allocates anything, and a recover guard, so that corrupt input is
//     an error and never a panic or a huge allocation;
//   - conversion of the result into a small set of Go types (see Decode).
package pyobj
