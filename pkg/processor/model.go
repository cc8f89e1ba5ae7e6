package processor

import (
	"fmt"
	"os"

	onnxruntime "github.com/yalue/onnxruntime_go"

	"github.com/facefleet/facefleet/pkg/ort"
)

// openModel is how every model constructor starts: the file must exist, the session options come from the
// provider settings, and the model's inputs and outputs are read to check its contract. Errors are one line
// prefixed with tag. The caller destroys opts once its session is made.
func openModel(tag, path string, session ort.SessionConfig) (opts *onnxruntime.SessionOptions, ins, outs []onnxruntime.InputOutputInfo, err error) {
	if _, err := os.Stat(path); err != nil {
		return nil, nil, nil, fmt.Errorf("%s: model file %s: %w", tag, path, err)
	}
	if opts, err = ort.NewSessionOptions(session); err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", tag, err)
	}
	if ins, outs, err = onnxruntime.GetInputOutputInfoWithOptions(path, opts); err != nil {
		_ = opts.Destroy()
		return nil, nil, nil, fmt.Errorf("%s: reading %s: %w", tag, path, err)
	}
	return opts, ins, outs, nil
}

// netIO is a session with one float input and fixed-shape float outputs, whose tensors are made once and reused for
// every call (SCRFD and BlazeFace; YuNet's tensors follow the frame size).
type netIO struct {
	session   *onnxruntime.DynamicAdvancedSession
	input     *onnxruntime.Tensor[float32]
	outputs   []*onnxruntime.Tensor[float32]
	inValues  []onnxruntime.Value
	outValues []onnxruntime.Value
}

// open makes the tensors (shapes[0] the input's, the rest the outputs') and the session. On error the caller's
// close frees what was made.
func (n *netIO) open(tag, path, inName string, outNames []string, shapes []onnxruntime.Shape, opts *onnxruntime.SessionOptions) error {
	ts, err := newTensors(shapes)
	if err != nil {
		return fmt.Errorf("%s: %w", tag, err)
	}
	n.input, n.outputs = ts[0], ts[1:]
	n.inValues, n.outValues = tensorValues(ts[:1]), tensorValues(ts[1:])
	if n.session, err = onnxruntime.NewDynamicAdvancedSession(path, []string{inName}, outNames, opts); err != nil {
		return fmt.Errorf("%s: loading %s: %w", tag, path, err)
	}
	return nil
}

// close frees the session and the tensors; it is safe to call twice.
func (n *netIO) close() error {
	if n.input != nil {
		n.input.Destroy()
		n.input = nil
	}
	destroyTensors(n.outputs)
	n.outputs, n.inValues, n.outValues = nil, nil, nil
	var err error
	if n.session != nil {
		err = n.session.Destroy()
		n.session = nil
	}
	return err
}
