package pyobj

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// argKind says how an opcode's inline argument is encoded.
type argKind int

const (
	argNone    argKind = iota
	argFixed           // n bytes
	argLine            // up to and including '\n'
	argTwoLine         // two '\n'-terminated lines (GLOBAL, INST)
	argLen1            // 1-byte length, then that many bytes
	argLen4            // 4-byte little-endian length, then that many bytes
	argLen8            // 8-byte little-endian length, then that many bytes
)

type opInfo struct {
	kind argKind
	n    int // for argFixed
}

// opcodes lists every pickle opcode of protocols 0–5 with its argument
// layout (Python's Lib/pickletools.py opcode table).
var opcodes = map[byte]opInfo{
	'(': {argNone, 0}, '.': {argNone, 0}, '0': {argNone, 0}, '1': {argNone, 0}, '2': {argNone, 0},
	'F': {argLine, 0}, 'I': {argLine, 0}, 'J': {argFixed, 4}, 'K': {argFixed, 1}, 'L': {argLine, 0},
	'M': {argFixed, 2}, 'N': {argNone, 0}, 'P': {argLine, 0}, 'Q': {argNone, 0}, 'R': {argNone, 0},
	'S': {argLine, 0}, 'T': {argLen4, 0}, 'U': {argLen1, 0}, 'V': {argLine, 0}, 'X': {argLen4, 0},
	'a': {argNone, 0}, 'b': {argNone, 0}, 'c': {argTwoLine, 0}, 'd': {argNone, 0}, '}': {argNone, 0},
	'e': {argNone, 0}, 'g': {argLine, 0}, 'h': {argFixed, 1}, 'i': {argTwoLine, 0}, 'j': {argFixed, 4},
	'l': {argNone, 0}, ']': {argNone, 0}, 'o': {argNone, 0}, 'p': {argLine, 0}, 'q': {argFixed, 1},
	'r': {argFixed, 4}, 's': {argNone, 0}, 't': {argNone, 0}, ')': {argNone, 0}, 'u': {argNone, 0},
	'G': {argFixed, 8},
	// protocol 2
	0x80: {argFixed, 1}, 0x81: {argNone, 0}, 0x82: {argFixed, 1}, 0x83: {argFixed, 2}, 0x84: {argFixed, 4},
	0x85: {argNone, 0}, 0x86: {argNone, 0}, 0x87: {argNone, 0}, 0x88: {argNone, 0}, 0x89: {argNone, 0},
	0x8a: {argLen1, 0}, 0x8b: {argLen4, 0},
	// protocol 3
	'B': {argLen4, 0}, 'C': {argLen1, 0},
	// protocol 4
	0x8c: {argLen1, 0}, 0x8d: {argLen8, 0}, 0x8e: {argLen8, 0}, 0x8f: {argNone, 0}, 0x90: {argNone, 0},
	0x91: {argNone, 0}, 0x92: {argNone, 0}, 0x93: {argNone, 0}, 0x94: {argNone, 0}, 0x95: {argFixed, 8},
	// protocol 5
	0x96: {argLen8, 0}, 0x97: {argNone, 0}, 0x98: {argNone, 0},
}

// maxLine bounds a text-mode argument (a decimal number, a module name).
const maxLine = 1 << 16

// Scan walks the opcodes of the pickle at the start of b, checking that every
// inline argument lies inside b, and returns the length of the pickle
// (through its STOP opcode). It never decodes anything, so it is cheap, and it
// lets callers find where one pickle ends and the next data begins (the
// legacy torch.save format concatenates several).
func Scan(b []byte) (int, error) {
	i := 0
	for i < len(b) {
		op := b[i]
		info, ok := opcodes[op]
		if !ok {
			return 0, fmt.Errorf("pickle: unknown opcode 0x%02x at byte %d", op, i)
		}
		i++
		if op == '.' {
			return i, nil
		}
		var n uint64
		switch info.kind {
		case argNone:
			continue
		case argFixed:
			n = uint64(info.n)
		case argLine, argTwoLine:
			lines := 1
			if info.kind == argTwoLine {
				lines = 2
			}
			for range lines {
				j := bytes.IndexByte(b[i:min(len(b), i+maxLine)], '\n')
				if j < 0 {
					if len(b)-i < maxLine {
						return 0, truncatedAt(op, i-1)
					}
					return 0, fmt.Errorf("pickle: opcode 0x%02x at byte %d: unterminated text argument", op, i-1)
				}
				i += j + 1
			}
			continue
		case argLen1:
			if i+1 > len(b) {
				return 0, truncatedAt(op, i-1)
			}
			n = 1 + uint64(b[i])
		case argLen4:
			if i+4 > len(b) {
				return 0, truncatedAt(op, i-1)
			}
			l := binary.LittleEndian.Uint32(b[i:])
			if op == 'T' || op == 0x8b { // signed lengths
				if int32(l) < 0 {
					return 0, fmt.Errorf("pickle: opcode 0x%02x at byte %d: negative length", op, i-1)
				}
			}
			n = 4 + uint64(l)
		case argLen8:
			if i+8 > len(b) {
				return 0, truncatedAt(op, i-1)
			}
			n = binary.LittleEndian.Uint64(b[i:])
			if n > uint64(len(b)) {
				return 0, truncatedAt(op, i-1)
			}
			n += 8
		}
		if n > uint64(len(b)-i) {
			return 0, truncatedAt(op, i-1)
		}
		if op == 0x95 { // FRAME: its length is a hint only; the framed opcodes follow inline
			if binary.LittleEndian.Uint64(b[i:]) > uint64(len(b)-i-8) {
				return 0, truncatedAt(op, i-1)
			}
		}
		i += int(n)
	}
	return 0, fmt.Errorf("pickle: data is truncated (no STOP opcode in %d bytes)", len(b))
}

func truncatedAt(op byte, at int) error {
	return fmt.Errorf("pickle: data is truncated (opcode 0x%02x at byte %d runs past the end)", op, at)
}
