package engine

import (
	"fmt"

	"gocv.io/x/gocv"

	"github.com/facefleet/facefleet/pkg/face"
)

// warmUpSide is the side of WarmUp's blank frames: GFPGAN's and CodeFormer's 512x512 crop, the largest a model here
// takes, so the made-up face is cropped at the scale a real one would be.
const warmUpSide = 512

// WarmUp runs every model the engine has loaded (Preload's, and those ForJob loaded) once, on blank frames that
// each hold one made-up face, so that ONNX Runtime's arenas grow to what a call at batch frames needs. Models that
// batch get batch faces in one call (the inswapper across frames, the recognizer across faces); those whose calls
// take one face or frame (detector, landmarker, enhancers) run once, since more calls would only reuse the arena.
// A worker reads the GPU around it (memory.MeasureGPU) to learn what a slot and each extra frame take. The outputs
// are thrown away. On the CPU provider it runs the same and the GPU measures nothing: there the models' memory is
// the process's RSS, which the RAM plan measures. Like the engine, it is not safe for concurrent use.
func (e *Engine) WarmUp(batch int) error {
	if batch < 1 {
		return fmt.Errorf("engine: warm-up at batch %d: want at least 1", batch)
	}
	frames := make([]gocv.Mat, batch)
	for i := range frames {
		frames[i] = gocv.NewMatWithSizeFromScalar(gocv.NewScalar(128, 128, 128, 0), warmUpSide, warmUpSide, gocv.MatTypeCV8UC3)
	}
	defer func() {
		for _, f := range frames {
			_ = f.Close()
		}
	}()
	// A frontal face filling the frame: the FFHQ template's landmarks, in a box around them.
	f := face.Face{Kps: face.FFHQTemplate(warmUpSide), Score: 1,
		Box: face.Box{X1: warmUpSide / 4, Y1: warmUpSide / 4, X2: warmUpSide * 3 / 4, Y2: warmUpSide * 7 / 8}}
	perFrame := make([][]face.Face, batch)
	for i := range perFrame {
		perFrame[i] = []face.Face{f}
	}
	inOne := make([]face.Face, batch)
	for i := range inOne {
		inOne[i] = f
	}
	warm := func(model string, run func() error) error {
		if err := run(); err != nil {
			return fmt.Errorf("engine: warm-up of %s at batch %d: %w", model, batch, err)
		}
		return nil
	}
	if e.detector != nil {
		if err := warm("the detector", func() error { _, err := e.detector.Detect(frames[0]); return err }); err != nil {
			return err
		}
	}
	if e.landmarker != nil {
		if err := warm("the landmarker", func() error { _, err := e.landmarker.Landmarks(frames[0], f); return err }); err != nil {
			return err
		}
	}
	for name, r := range e.recognizers {
		if err := warm(name, func() error { _, err := r.Embed(frames[0], inOne); return err }); err != nil {
			return err
		}
	}
	for path, s := range e.inswappers {
		err := warm(path, func() error {
			unit := make([]float32, 512) // any identity of norm 1 will do
			unit[0] = 1
			latent, err := s.SourceLatent(unit)
			if err != nil {
				return err
			}
			return s.SwapBatch(frames, perFrame, latent)
		})
		if err != nil {
			return err
		}
	}
	for name, en := range e.enhancers {
		if err := warm(name, func() error { return en.Enhance(frames[0], perFrame[0]) }); err != nil {
			return err
		}
	}
	return nil
}
