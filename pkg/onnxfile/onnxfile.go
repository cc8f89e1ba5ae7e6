// Package onnxfile reads ONNX model files as protobuf, without ONNX Runtime: the graph's initializers (inswapper's
// emap is the last one) and its declared inputs and outputs. It maps the file instead of reading it, so a 550 MB
// model costs no heap; only the tensors asked for are copied out.
package onnxfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"syscall"

	"google.golang.org/protobuf/encoding/protowire"
)

// ErrFormat is returned for a file that is not a well-formed ONNX model.
var ErrFormat = errors.New("not a well-formed ONNX model")

// ONNX TensorProto data types this package decodes.
const (
	TypeFloat  = 1
	TypeDouble = 11
)

// Tensor is an initializer's name, shape, ONNX data type and (when decoded) float data.
type Tensor struct {
	Name     string
	Dims     []int64
	DataType int
	Data     []float32
}

// Initializers lists every initializer of the graph in order, without its data.
func Initializers(path string) ([]Tensor, error) {
	var out []Tensor
	err := withGraph(path, func(graph []byte) error {
		return eachField(graph, func(num protowire.Number, typ protowire.Type, v []byte) error {
			if num != graphInitializer || typ != protowire.BytesType {
				return nil
			}
			t, err := decodeTensor(path, v, false)
			out = append(out, t)
			return err
		})
	}, func() error { return nil })
	return out, err
}

// Field numbers of onnx.proto (ModelProto.graph, GraphProto.initializer, TensorProto.*).
const (
	modelGraph        = 7
	graphInitializer  = 5
	tensorDims        = 1
	tensorDataType    = 2
	tensorFloatData   = 4
	tensorName        = 8
	tensorRawData     = 9
	tensorDoubleData  = 10
	tensorDataLocaton = 14
)

// LastInitializer returns the graph's last initializer, decoded as float32. insightface and roop read
// inswapper_128's emap this way (onnx.load(path).graph.initializer[-1]).
func LastInitializer(path string) (Tensor, error) {
	var (
		last []byte
		t    Tensor
	)
	err := withGraph(path, func(graph []byte) error {
		return eachField(graph, func(num protowire.Number, typ protowire.Type, v []byte) error {
			if num == graphInitializer && typ == protowire.BytesType {
				last = v
			}
			return nil
		})
	}, func() error {
		if last == nil {
			return fmt.Errorf("%s: %w: the graph has no initializers", path, ErrFormat)
		}
		var err error
		t, err = decodeTensor(path, last, true) // copies out while the file is still mapped
		return err
	})
	return t, err
}

// withGraph maps the file, finds ModelProto.graph and calls fn with its bytes, then done while the mapping is
// still valid (decoding must copy out before the file is unmapped).
func withGraph(path string, fn func(graph []byte) error, done func() error) (err error) {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if st.Size() == 0 {
		return fmt.Errorf("%s: %w: file is empty", path, ErrFormat)
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("%s: mmap: %w", path, err)
	}
	defer syscall.Munmap(data)
	found := false
	err = eachField(data, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if num == modelGraph && typ == protowire.BytesType {
			found = true
			return fn(v)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w: %v", path, ErrFormat, err)
	}
	if !found {
		return fmt.Errorf("%s: %w: no graph", path, ErrFormat)
	}
	return done()
}

// eachField walks one message's top-level fields; v is the raw value for bytes fields and nil otherwise.
func eachField(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var v []byte
		if typ == protowire.BytesType {
			v, n = protowire.ConsumeBytes(b)
		} else {
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		if err := fn(num, typ, v); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// decodeTensor parses a TensorProto; with data it also decodes the values as float32.
func decodeTensor(path string, b []byte, data bool) (Tensor, error) {
	var (
		t        Tensor
		dtype    int64
		raw      []byte
		floats   []float32
		doubles  []float64
		external bool
	)
	for rest := b; len(rest) > 0; {
		num, typ, n := protowire.ConsumeTag(rest)
		if n < 0 {
			return t, fmt.Errorf("%s: %w: tensor", path, ErrFormat)
		}
		rest = rest[n:]
		switch {
		case num == tensorName && typ == protowire.BytesType:
			v, m := protowire.ConsumeBytes(rest)
			t.Name, n = string(v), m
		case num == tensorRawData && typ == protowire.BytesType:
			raw, n = protowire.ConsumeBytes(rest)
		case num == tensorDims && typ == protowire.VarintType:
			v, m := protowire.ConsumeVarint(rest)
			t.Dims = append(t.Dims, int64(v))
			n = m
		case num == tensorDims && typ == protowire.BytesType:
			p, m := protowire.ConsumeBytes(rest)
			for len(p) > 0 {
				v, k := protowire.ConsumeVarint(p)
				if k < 0 {
					return t, fmt.Errorf("%s: %w: dims", path, ErrFormat)
				}
				t.Dims = append(t.Dims, int64(v))
				p = p[k:]
			}
			n = m
		case num == tensorDataType && typ == protowire.VarintType:
			v, m := protowire.ConsumeVarint(rest)
			dtype, n = int64(v), m
		case num == tensorDataLocaton && typ == protowire.VarintType:
			v, m := protowire.ConsumeVarint(rest)
			external, n = v == 1, m
		case num == tensorFloatData && typ == protowire.BytesType:
			p, m := protowire.ConsumeBytes(rest)
			for i := 0; i+4 <= len(p); i += 4 {
				floats = append(floats, math.Float32frombits(binary.LittleEndian.Uint32(p[i:])))
			}
			n = m
		case num == tensorDoubleData && typ == protowire.BytesType:
			p, m := protowire.ConsumeBytes(rest)
			for i := 0; i+8 <= len(p); i += 8 {
				doubles = append(doubles, math.Float64frombits(binary.LittleEndian.Uint64(p[i:])))
			}
			n = m
		default:
			n = protowire.ConsumeFieldValue(num, typ, rest)
		}
		if n < 0 {
			return t, fmt.Errorf("%s: %w: tensor field %d", path, ErrFormat, num)
		}
		rest = rest[n:]
	}
	if external {
		return t, fmt.Errorf("%s: initializer %q keeps its data in an external file, which is not supported", path, t.Name)
	}
	t.DataType = int(dtype)
	if !data {
		return t, nil
	}
	count := int64(1)
	for _, d := range t.Dims {
		count *= d
	}
	switch {
	case dtype == TypeFloat && raw != nil:
		if int64(len(raw)) != count*4 {
			return t, fmt.Errorf("%s: %w: initializer %q has %d bytes for %d floats", path, ErrFormat, t.Name, len(raw), count)
		}
		t.Data = make([]float32, count)
		for i := range t.Data {
			t.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	case dtype == TypeFloat:
		t.Data = floats
	case dtype == TypeDouble && raw != nil:
		t.Data = make([]float32, len(raw)/8)
		for i := range t.Data {
			t.Data[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:])))
		}
	case dtype == TypeDouble:
		t.Data = make([]float32, len(doubles))
		for i, d := range doubles {
			t.Data[i] = float32(d)
		}
	default:
		return t, fmt.Errorf("%s: initializer %q has data type %d; want float", path, t.Name, dtype)
	}
	if int64(len(t.Data)) != count {
		return t, fmt.Errorf("%s: %w: initializer %q has %d values for shape %v", path, ErrFormat, t.Name, len(t.Data), t.Dims)
	}
	return t, nil
}
