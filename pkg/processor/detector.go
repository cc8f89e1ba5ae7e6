package processor

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/facefleet/facefleet/pkg/ort"
	onnxruntime "github.com/yalue/onnxruntime_go"
)

// Detector kinds, the values of DetectorConfig.Kind.
const (
	DetectorYuNet     = "yunet"
	DetectorSCRFD     = "scrfd"
	DetectorBlazeFace = "blazeface"
)

var (
	_ Detector = (*SCRFD)(nil)
	_ Detector = (*BlazeFace)(nil)
)

// DetectorKinds lists the detector kinds, the default first.
func DetectorKinds() []string { return []string{DetectorYuNet, DetectorSCRFD, DetectorBlazeFace} }

// DetectorConfig chooses and configures a face detector (--face-detector-model, --face-detector-size,
// --face-detector-score). Zero values mean each detector's defaults.
type DetectorConfig struct {
	// Kind is "yunet", "scrfd" or "blazeface"; "" means the kind DetectorKindForFile recognises in ModelPath.
	Kind string
	// ModelPath is the .onnx file.
	ModelPath string
	// InputSize is the network input size: YuNet's longest side, SCRFD's square side (both multiples of 32);
	// BlazeFace takes only its model's fixed size. 0 means the detector's default (or the model's fixed size).
	InputSize int
	// ScoreThreshold drops detections scoring below it; 0 means the detector's default (YuNet 0.6, SCRFD and
	// BlazeFace 0.5).
	ScoreThreshold float32
	// Session is how ONNX Runtime runs the model.
	Session ort.SessionConfig
}

// Validate reports a configuration NewDetector would refuse, without touching the model file.
func (c DetectorConfig) Validate() error {
	switch c.Kind {
	case "":
		if c.ModelPath == "" {
			return errors.New("detector: ModelPath is empty")
		}
		if c.InputSize < 0 || c.InputSize%32 != 0 {
			return fmt.Errorf("detector: InputSize must be a positive multiple of 32 (or 0 for the default), got %d",
				c.InputSize)
		}
		if c.ScoreThreshold < 0 || c.ScoreThreshold >= 1 {
			return fmt.Errorf("detector: ScoreThreshold must be in [0,1), got %v", c.ScoreThreshold)
		}
		return c.Session.Validate()
	case DetectorYuNet:
		return c.yunet().Validate()
	case DetectorSCRFD:
		return c.scrfd().Validate()
	case DetectorBlazeFace:
		return c.blazeFace().Validate()
	default:
		return fmt.Errorf("detector: unknown kind %q (want %s)", c.Kind, strings.Join(DetectorKinds(), ", "))
	}
}

func (c DetectorConfig) yunet() YuNetConfig {
	return YuNetConfig{ModelPath: c.ModelPath, InputSize: c.InputSize, ScoreThreshold: c.ScoreThreshold, Session: c.Session}
}

func (c DetectorConfig) scrfd() SCRFDConfig {
	return SCRFDConfig{ModelPath: c.ModelPath, InputSize: c.InputSize, ScoreThreshold: c.ScoreThreshold, Session: c.Session}
}

func (c DetectorConfig) blazeFace() BlazeFaceConfig {
	return BlazeFaceConfig{ModelPath: c.ModelPath, InputSize: c.InputSize, ScoreThreshold: c.ScoreThreshold, Session: c.Session}
}

// NewDetector loads the detector cfg names (its kind recognised from the file when cfg.Kind is ""). ort.Init must
// have succeeded.
func NewDetector(cfg DetectorConfig) (Detector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Kind == "" {
		kind, err := DetectorKindForFile(cfg.ModelPath)
		if err != nil {
			return nil, err
		}
		cfg.Kind = kind
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
	}
	// Each branch returns a nil interface on error, never a typed nil pointer.
	switch cfg.Kind {
	case DetectorYuNet:
		d, err := NewYuNet(cfg.yunet())
		if err != nil {
			return nil, err
		}
		return d, nil
	case DetectorSCRFD:
		d, err := NewSCRFD(cfg.scrfd())
		if err != nil {
			return nil, err
		}
		return d, nil
	default:
		d, err := NewBlazeFace(cfg.blazeFace())
		if err != nil {
			return nil, err
		}
		return d, nil
	}
}

// DetectorKindForFile recognises a face detector from its model's inputs and outputs: 12 outputs named cls_*,
// obj_*, bbox_*, kps_* are YuNet; 9 outputs are SCRFD (det_10g layout); 4 outputs after an NHWC image input are
// BlazeFace. The constructors check the layout in full. ort.Init must have succeeded.
func DetectorKindForFile(path string) (string, error) {
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	opts, err := ort.NewSessionOptions(ort.SessionConfig{IntraOpThreads: 1, InterOpThreads: 1})
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	defer opts.Destroy()
	ins, outs, err := onnxruntime.GetInputOutputInfoWithOptions(path, opts)
	if err != nil {
		return "", fmt.Errorf("%s: not an ONNX model ONNX Runtime can load: %w", path, err)
	}
	if kind := detectorKind(ins, outs); kind != "" {
		return kind, nil
	}
	return "", fmt.Errorf("%s: not a face detector Facefleet knows (%s); want YuNet (12 outputs cls_/obj_/bbox_/kps_), "+
		"SCRFD (9 outputs) or BlazeFace (NHWC input, 4 outputs)", path, describeIO(ins, outs))
}

func detectorKind(ins, outs []onnxruntime.InputOutputInfo) string {
	if len(ins) != 1 {
		return ""
	}
	in := ins[0].Dimensions
	switch len(outs) {
	case 12:
		for _, o := range outs {
			if !strings.HasPrefix(o.Name, "cls_") && !strings.HasPrefix(o.Name, "obj_") &&
				!strings.HasPrefix(o.Name, "bbox_") && !strings.HasPrefix(o.Name, "kps_") {
				return ""
			}
		}
		return DetectorYuNet
	case 9:
		return DetectorSCRFD
	case 4:
		if len(in) == 4 && in[3] == 3 && in[1] != 3 {
			return DetectorBlazeFace
		}
	}
	return ""
}
