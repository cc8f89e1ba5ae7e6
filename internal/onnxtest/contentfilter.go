package onnxtest

// Content classifiers with open_nsfw's contract as the manifest declares it (models/manifest.tsv): one float input
// [1,224,224,3] (BGR less the Caffe means) and a [1,2] output whose element 1 is the score.

// ContentFilterFile is the manifest's file for the default classifier (open_nsfw).
const ContentFilterFile = "open_nsfw.onnx"

// contentFilter is the input averaged (so the graph reads every input value) and reshaped to [1,1], then scaled by
// w and offset by b, both of shape outDims, and passed through sigmoid when sig.
func contentFilter(name string, in []int64, w, b []float32, sig bool, outDims ...int64) *Graph {
	g := New(name).Input("input", Float, in...).Output("prob", Float, outDims...)
	g.InitializerInt64("shape11", []int64{2}, []int64{1, 1})
	g.Initializer("w", outDims, w).Initializer("b", outDims, b)
	g.Node("ReduceMean", []string{"input"}, []string{"mean"})
	g.Node("Reshape", []string{"mean", "shape11"}, []string{"mean11"})
	g.Node("Mul", []string{"mean11", "w"}, []string{"scaled"})
	if !sig {
		return g.Node("Add", []string{"scaled", "b"}, []string{"prob"})
	}
	g.Node("Add", []string{"scaled", "b"}, []string{"logit"})
	return g.Node("Sigmoid", []string{"logit"}, []string{"prob"})
}

// ConstantFilter scores every picture score: 1 flags everything, 0 nothing; NaN or values outside [0,1] are a
// broken classifier.
func ConstantFilter(score float32) *Graph {
	return contentFilter("constant_filter", nhwc, []float32{0, 0}, []float32{1 - score, score}, false, 1, 2)
}

// BrightnessFilter scores a picture by its mean brightness: sigmoid(0.1 * (mean pixel - Caffe mean)), so a white
// frame scores about 1 and a black one about 0.
func BrightnessFilter() *Graph {
	return contentFilter("brightness_filter", nhwc, []float32{0, 0.1}, []float32{0, 0}, true, 1, 2)
}

// WrongShapeFilter outputs [1,3]: not the shape the manifest declares.
func WrongShapeFilter() *Graph {
	return contentFilter("wrong_shape_filter", nhwc, []float32{0, 0, 0}, []float32{0, 0, 0}, false, 1, 3)
}

// WrongInputFilter takes [1,3,224,224] (NCHW): not the layout the manifest declares.
func WrongInputFilter() *Graph {
	return contentFilter("wrong_input_filter", []int64{1, 3, 224, 224}, []float32{0, 0}, []float32{1, 0}, false, 1, 2)
}

var nhwc = []int64{1, 224, 224, 3}
