package imagefile

/*
#cgo LDFLAGS: -ljpeg
#include <stdlib.h>
#include "jpeg.h"
*/
import "C"

import (
	"fmt"
	"unsafe"

	"gocv.io/x/gocv"
)

func decodeJPEG(data []byte) (gocv.Mat, error) {
	var msg [C.IMGJPEG_MSG]C.char
	var w, h C.int
	src, n := (*C.uchar)(unsafe.Pointer(&data[0])), C.size_t(len(data))
	fail := func() error { return fmt.Errorf("%w (JPEG: %s)", ErrNotImage, C.GoString(&msg[0])) }
	if C.imgjpeg_decode_bgr(src, n, nil, 0, &w, &h, &msg[0]) < 0 {
		return gocv.Mat{}, fail()
	}
	if err := checkSize(int(w), int(h)); err != nil {
		return gocv.Mat{}, err
	}
	m := gocv.NewMatWithSize(int(h), int(w), gocv.MatTypeCV8UC3)
	pix, err := m.DataPtrUint8()
	if err != nil {
		_ = m.Close()
		return gocv.Mat{}, err
	}
	// pix is the Mat's C memory, not Go's: libjpeg may write it directly.
	if C.imgjpeg_decode_bgr(src, n, (*C.uchar)(unsafe.Pointer(&pix[0])), C.size_t(len(pix)), &w, &h, &msg[0]) != 1 {
		_ = m.Close()
		return gocv.Mat{}, fail()
	}
	orient(&m, exifOrientation(data))
	return m, nil
}

func encodeJPEG(m gocv.Mat, quality int, full bool) ([]byte, error) {
	quality = min(max(quality, 0), 100) // as OpenCV clamps it; libjpeg takes 0 as 1
	pix, err := m.DataPtrUint8()
	if err != nil {
		return nil, err
	}
	luma := C.int(2)
	if full {
		luma = 1
	}
	var msg [C.IMGJPEG_MSG]C.char
	var out *C.uchar
	var n C.ulong
	if C.imgjpeg_encode_bgr((*C.uchar)(unsafe.Pointer(&pix[0])), C.int(m.Cols()), C.int(m.Rows()), C.int(m.Step()),
		C.int(quality), luma, luma, &out, &n, &msg[0]) != 0 {
		return nil, fmt.Errorf("imagefile: JPEG: %s", C.GoString(&msg[0]))
	}
	defer C.free(unsafe.Pointer(out))
	return C.GoBytes(unsafe.Pointer(out), C.int(n)), nil
}
