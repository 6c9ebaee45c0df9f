package server

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/prometheus/prometheus/model/labels"
	"google.golang.org/protobuf/encoding/protowire"
)

// The label walkers below read only the series labels of a remote_write
// message, straight from the protobuf wire format, with no allocation per
// series: a label-limited writer's body is checked for the cost of a scan
// rather than of decoding every sample (bench/remotewrite: decoding with
// the generated Unmarshal cost promgate more CPU than forwarding itself).
// They read labels exactly as the generated decoders of prompb do, which
// is what Prometheus' receiver and the backends use: every occurrence of a
// repeated field counts (so concatenated messages merge), a scalar given
// twice keeps its last value, unknown fields are skipped, a known field
// with the wrong wire type is an error, packed and unpacked label refs are
// both read. Samples, histograms and exemplars are skipped whole; whoever
// stores them decodes and checks them.

// errWire: the body is not a well-formed message of the decided type.
var errWire = errors.New("malformed protobuf")

// field reads one field's tag and returns its number, type and the rest of
// b after the tag.
// It reads the tag as the generated decoders do (up to ten bytes; not
// positive or ending a group: refused) except for field numbers past
// protobuf's 2^29-1: those decoders truncate them to int32, so a huge
// number can name field 1 there and an unknown field in another backend's
// decoder; such a body is refused rather than read either way.
func field(b []byte) (protowire.Number, protowire.Type, []byte, error) {
	v, n := gogoVarint(b, 0)
	if n < 0 {
		return 0, 0, nil, errWire
	}
	if v>>3 > uint64(protowire.MaxValidNumber) {
		return 0, 0, nil, errFieldNumber
	}
	num, typ := protowire.Number(v>>3), protowire.Type(v&7)
	if num <= 0 || typ == protowire.EndGroupType {
		return 0, 0, nil, errWire
	}
	return num, typ, b[n:], nil
}

// errFieldNumber: a tag's field number is past protobuf's 2^29-1.
var errFieldNumber = fmt.Errorf("%w: field number past 2^29-1", errWire)

// skip consumes the value of an unknown field of type typ exactly as the
// generated (gogo) decoders' skip does: groups nest by depth and their end
// tags' numbers are not compared, inner tags are not checked, a varint may
// run to ten bytes whatever its last one. protowire's stricter reading
// would refuse bodies the receiver accepts (found by FuzzLabelWalker).
func skip(_ protowire.Number, typ protowire.Type, b []byte) ([]byte, error) {
	depth, i := 0, 0
	for {
		switch typ {
		case protowire.VarintType:
			if _, i = gogoVarint(b, i); i < 0 {
				return nil, errWire
			}
		case protowire.Fixed64Type:
			i += 8
		case protowire.BytesType:
			var n uint64
			if n, i = gogoVarint(b, i); i < 0 || int(n) < 0 || i+int(n) < 0 {
				return nil, errWire
			}
			i += int(n)
		case protowire.StartGroupType:
			depth++
		case protowire.EndGroupType:
			if depth == 0 {
				return nil, errWire
			}
			depth--
		case protowire.Fixed32Type:
			i += 4
		default:
			return nil, errWire
		}
		if i > len(b) {
			return nil, errWire
		}
		if depth == 0 {
			return b[i:], nil
		}
		var tag uint64
		if tag, i = gogoVarint(b, i); i < 0 {
			return nil, errWire
		}
		typ = protowire.Type(tag & 7)
	}
}

// gogoVarint reads a varint at b[i:] as the generated decoders do (up to
// ten bytes, no check of the tenth); the index after it, or -1.
func gogoVarint(b []byte, i int) (uint64, int) {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if i >= len(b) {
			return 0, -1
		}
		c := b[i]
		i++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v, i
		}
	}
	return 0, -1
}

// bytesField consumes a length-delimited value.
func bytesField(typ protowire.Type, b []byte) ([]byte, []byte, error) {
	if typ != protowire.BytesType {
		return nil, nil, errWire
	}
	v, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return nil, nil, errWire
	}
	return v, b[n:], nil
}

// str views b as a string without copying. The strings go into a
// ScratchBuilder whose labels are copied out by Overwrite before the body
// changes or goes away; nothing keeps them.
func str(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// labelWalker checks each series' labels with check, reusing its builder
// and labels between series.
type labelWalker struct {
	b     labels.ScratchBuilder
	ls    labels.Labels
	check func(labels.Labels)
}

func (w *labelWalker) done() {
	w.b.Sort()
	w.b.Overwrite(&w.ls)
	w.check(w.ls)
}

// walkV1 reads prometheus.WriteRequest: timeseries = 1, each with
// labels = 1, each label name = 1, value = 2.
func (w *labelWalker) walkV1(msg []byte) error {
	for {
		ts, rest, ok, err := nextBytes(msg, 1)
		if err != nil || !ok {
			return err
		}
		msg = rest
		w.b.Reset()
		for {
			lbl, rest, ok, err := nextBytes(ts, 1)
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			ts = rest
			name, value, err := readLabel(lbl)
			if err != nil {
				return err
			}
			w.b.Add(str(name), str(value))
		}
		w.done()
	}
}

// nextBytes finds the next occurrence of the length-delimited field want
// in msg, skipping the others, and returns its value and what follows it;
// ok is false when msg holds no more of it.
func nextBytes(msg []byte, want protowire.Number) (val, rest []byte, ok bool, err error) {
	for len(msg) > 0 {
		num, typ, after, err := field(msg)
		if err != nil {
			return nil, nil, false, err
		}
		if num != want {
			if msg, err = skip(num, typ, after); err != nil {
				return nil, nil, false, err
			}
			continue
		}
		val, rest, err := bytesField(typ, after)
		return val, rest, err == nil, err
	}
	return nil, nil, false, nil
}

// readLabel reads prometheus.Label: name = 1, value = 2, last one wins.
func readLabel(b []byte) (name, value []byte, err error) {
	for len(b) > 0 {
		num, typ, rest, err := field(b)
		if err != nil {
			return nil, nil, err
		}
		switch num {
		case 1:
			name, b, err = bytesField(typ, rest)
		case 2:
			value, b, err = bytesField(typ, rest)
		default:
			b, err = skip(num, typ, rest)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	return name, value, nil
}

// walkV2 reads io.prometheus.write.v2.Request: symbols = 4 (read first,
// wherever they are), timeseries = 5, each with labels_refs = 1 (pairs of
// indexes into the symbols).
func (w *labelWalker) walkV2(msg []byte) error {
	var symbols []string
	for b := msg; ; {
		sym, rest, ok, err := nextBytes(b, 4)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		b = rest
		symbols = append(symbols, str(sym))
	}
	var refs []uint64
	for {
		ts, rest, ok, err := nextBytes(msg, 5)
		if err != nil || !ok {
			return err
		}
		msg = rest
		if refs, err = labelRefs(ts, refs[:0]); err != nil {
			return err
		}
		if len(refs)%2 != 0 {
			return fmt.Errorf("invalid labelRefs length %d", len(refs))
		}
		w.b.Reset()
		for i := 0; i < len(refs); i += 2 {
			if refs[i] >= uint64(len(symbols)) || refs[i+1] >= uint64(len(symbols)) {
				return fmt.Errorf("labelRefs %d (name) = %d (value) outside of symbols table (size %d)", refs[i], refs[i+1], len(symbols))
			}
			w.b.Add(symbols[refs[i]], symbols[refs[i+1]])
		}
		w.done()
	}
}

// labelRefs appends a v2 TimeSeries' labels_refs (field 1, packed or not)
// to refs.
func labelRefs(ts []byte, refs []uint64) ([]uint64, error) {
	for len(ts) > 0 {
		num, typ, rest, err := field(ts)
		if err != nil {
			return nil, err
		}
		if num != 1 {
			if ts, err = skip(num, typ, rest); err != nil {
				return nil, err
			}
			continue
		}
		switch typ {
		case protowire.VarintType:
			v, n := gogoVarint(rest, 0)
			if n < 0 {
				return nil, errWire
			}
			refs, ts = append(refs, uint64(uint32(v))), rest[n:] // uint32, as the generated decoder truncates
		case protowire.BytesType:
			packed, after, err := bytesField(typ, rest)
			if err != nil {
				return nil, err
			}
			for len(packed) > 0 {
				v, n := gogoVarint(packed, 0)
				if n < 0 {
					return nil, errWire
				}
				refs, packed = append(refs, uint64(uint32(v))), packed[n:]
			}
			ts = after
		default:
			return nil, errWire
		}
	}
	return refs, nil
}
