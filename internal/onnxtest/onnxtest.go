// Package onnxtest builds small ONNX graphs for tests: the exact input and output names, shapes and dtypes of a
// model contract (inswapper_128, w600k_r50, det_10g, GFPGAN, CodeFormer) around a few ops whose outputs reveal
// what the code under test fed in. It writes the protobuf by hand, so tests need no Python and no weights.
package onnxtest

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// DType is an ONNX TensorProto data type.
type DType int32

// Data types used by the contracts.
const (
	Float  DType = 1
	Uint8  DType = 2
	Int64  DType = 7
	Double DType = 11
)

// Attr is a node attribute.
type Attr struct {
	name   string
	typ    int32 // AttributeProto.AttributeType
	f      float32
	i      int64
	ints   []int64
	floats []float32
	tensor *tensor
}

// Int, Float, Ints and Floats make attributes.
func Int(name string, v int64) Attr         { return Attr{name: name, typ: 2, i: v} }
func FloatAttr(name string, v float32) Attr { return Attr{name: name, typ: 1, f: v} }
func Ints(name string, v ...int64) Attr     { return Attr{name: name, typ: 7, ints: v} }
func Floats(name string, v ...float32) Attr { return Attr{name: name, typ: 6, floats: v} }

// TensorAttr is a float tensor attribute (Constant's "value").
func TensorAttr(name string, dims []int64, data []float32) Attr {
	return Attr{name: name, typ: 4, tensor: &tensor{dims: dims, dtype: Float, f32: data}}
}

type tensor struct {
	name  string
	dims  []int64
	dtype DType
	f32   []float32
	f64   []float64
	i64   []int64
}

type valueInfo struct {
	name  string
	dtype DType
	dims  []int64
}

type node struct {
	op      string
	inputs  []string
	outputs []string
	attrs   []Attr
}

// Graph is a model under construction.
type Graph struct {
	name    string
	inputs  []valueInfo
	outputs []valueInfo
	inits   []tensor
	nodes   []node
}

// New starts a graph.
func New(name string) *Graph { return &Graph{name: name} }

// Input declares a graph input; a dim of -1 is dynamic.
func (g *Graph) Input(name string, dtype DType, dims ...int64) *Graph {
	g.inputs = append(g.inputs, valueInfo{name, dtype, dims})
	return g
}

// Output declares a graph output; a dim of -1 is dynamic.
func (g *Graph) Output(name string, dtype DType, dims ...int64) *Graph {
	g.outputs = append(g.outputs, valueInfo{name, dtype, dims})
	return g
}

// Initializer adds a float32 initializer; initializers keep the order they are added in.
func (g *Graph) Initializer(name string, dims []int64, data []float32) *Graph {
	g.inits = append(g.inits, tensor{name: name, dims: dims, dtype: Float, f32: data})
	return g
}

// InitializerInt64 adds an int64 initializer (shapes for Reshape, starts and ends for Slice).
func (g *Graph) InitializerInt64(name string, dims []int64, data []int64) *Graph {
	g.inits = append(g.inits, tensor{name: name, dims: dims, dtype: Int64, i64: data})
	return g
}

// Node adds an operator.
func (g *Graph) Node(op string, inputs, outputs []string, attrs ...Attr) *Graph {
	g.nodes = append(g.nodes, node{op, inputs, outputs, attrs})
	return g
}

// Bytes encodes the model (IR version 8, default-domain opset 17).
func (g *Graph) Bytes() []byte {
	var graph []byte
	for _, n := range g.nodes {
		graph = protowire.AppendTag(graph, 1, protowire.BytesType)
		graph = protowire.AppendBytes(graph, encodeNode(n))
	}
	graph = appendString(graph, 2, g.name)
	for _, t := range g.inits {
		graph = protowire.AppendTag(graph, 5, protowire.BytesType)
		graph = protowire.AppendBytes(graph, encodeTensor(t))
	}
	for _, v := range g.inputs {
		graph = protowire.AppendTag(graph, 11, protowire.BytesType)
		graph = protowire.AppendBytes(graph, encodeValueInfo(v))
	}
	for _, v := range g.outputs {
		graph = protowire.AppendTag(graph, 12, protowire.BytesType)
		graph = protowire.AppendBytes(graph, encodeValueInfo(v))
	}
	var model []byte
	model = protowire.AppendTag(model, 1, protowire.VarintType)
	model = protowire.AppendVarint(model, 8)
	model = appendString(model, 2, "facefleet-onnxtest")
	model = protowire.AppendTag(model, 7, protowire.BytesType)
	model = protowire.AppendBytes(model, graph)
	var opset []byte
	opset = appendString(opset, 1, "")
	opset = protowire.AppendTag(opset, 2, protowire.VarintType)
	opset = protowire.AppendVarint(opset, 17)
	model = protowire.AppendTag(model, 8, protowire.BytesType)
	return protowire.AppendBytes(model, opset)
}

// Save writes the model into dir and returns its path.
func (g *Graph) Save(t testing.TB, dir, file string) string {
	t.Helper()
	p := filepath.Join(dir, file)
	if err := os.WriteFile(p, g.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func encodeNode(n node) []byte {
	var b []byte
	for _, in := range n.inputs {
		b = appendString(b, 1, in)
	}
	for _, out := range n.outputs {
		b = appendString(b, 2, out)
	}
	b = appendString(b, 4, n.op)
	for _, a := range n.attrs {
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		b = protowire.AppendBytes(b, encodeAttr(a))
	}
	return b
}

func encodeAttr(a Attr) []byte {
	b := appendString(nil, 1, a.name)
	switch a.typ {
	case 1:
		b = protowire.AppendTag(b, 2, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(a.f))
	case 2:
		b = protowire.AppendTag(b, 3, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(a.i))
	case 4:
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		b = protowire.AppendBytes(b, encodeTensor(*a.tensor))
	case 6:
		for _, f := range a.floats {
			b = protowire.AppendTag(b, 7, protowire.Fixed32Type)
			b = protowire.AppendFixed32(b, math.Float32bits(f))
		}
	case 7:
		for _, i := range a.ints {
			b = protowire.AppendTag(b, 8, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(i))
		}
	}
	b = protowire.AppendTag(b, 20, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(a.typ))
}

func encodeTensor(t tensor) []byte {
	var b []byte
	for _, d := range t.dims {
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(d))
	}
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(t.dtype))
	if t.name != "" {
		b = appendString(b, 8, t.name)
	}
	var raw []byte
	switch t.dtype {
	case Float:
		raw = make([]byte, 4*len(t.f32))
		for i, f := range t.f32 {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
		}
	case Double:
		raw = make([]byte, 8*len(t.f64))
		for i, f := range t.f64 {
			binary.LittleEndian.PutUint64(raw[8*i:], math.Float64bits(f))
		}
	case Int64:
		raw = make([]byte, 8*len(t.i64))
		for i, v := range t.i64 {
			binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
		}
	}
	b = protowire.AppendTag(b, 9, protowire.BytesType)
	return protowire.AppendBytes(b, raw)
}

func encodeValueInfo(v valueInfo) []byte {
	var shape []byte
	for i, d := range v.dims {
		var dim []byte
		if d < 0 {
			// A unique name per dimension: ONNX Runtime treats equal dim_params as one size.
			dim = appendString(dim, 2, fmt.Sprintf("%s_dim%d", v.name, i))
		} else {
			dim = protowire.AppendTag(dim, 1, protowire.VarintType)
			dim = protowire.AppendVarint(dim, uint64(d))
		}
		shape = protowire.AppendTag(shape, 1, protowire.BytesType)
		shape = protowire.AppendBytes(shape, dim)
	}
	var tt []byte
	tt = protowire.AppendTag(tt, 1, protowire.VarintType)
	tt = protowire.AppendVarint(tt, uint64(v.dtype))
	tt = protowire.AppendTag(tt, 2, protowire.BytesType)
	tt = protowire.AppendBytes(tt, shape)
	var typ []byte
	typ = protowire.AppendTag(typ, 1, protowire.BytesType)
	typ = protowire.AppendBytes(typ, tt)
	b := appendString(nil, 1, v.name)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	return protowire.AppendBytes(b, typ)
}
