// Package cvref gives the tests OpenCV's own image codecs (cv::imread, cv::imdecode, cv::imencode), the reference
// pkg/imagefile is held to byte for byte. Only test binaries import it: the product does not link imgcodecs (see
// third_party/gocv/README.md).
package cvref

/*
#cgo CXXFLAGS: --std=c++11
#cgo CPPFLAGS: -I/usr/include/opencv4 -I/usr/local/include/opencv4
#cgo LDFLAGS: -lopencv_imgcodecs -lopencv_core -ljpeg
#include <stdlib.h>
#include "cvref.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// Picture is 8-bit pixels, rows x cols x channels, rows packed.
type Picture struct {
	Rows, Cols, Channels int
	Pix                  []byte
}

func take(p *C.uchar, n int) []byte {
	defer C.free(unsafe.Pointer(p))
	return C.GoBytes(unsafe.Pointer(p), C.int(n))
}

// Read is cv::imread(path, IMREAD_COLOR).
func Read(path string) (Picture, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var rows, cols C.int
	p := C.cvref_read(cpath, &rows, &cols)
	if p == nil {
		return Picture{}, fmt.Errorf("cvref: OpenCV cannot read %s", path)
	}
	return Picture{Rows: int(rows), Cols: int(cols), Channels: 3, Pix: take(p, int(rows*cols*3))}, nil
}

// Decode is cv::imdecode(data, IMREAD_UNCHANGED) for 8-bit pictures.
func Decode(data []byte) (Picture, error) {
	if len(data) == 0 {
		return Picture{}, errors.New("cvref: nothing to decode")
	}
	var rows, cols, ch C.int
	p := C.cvref_decode((*C.uchar)(unsafe.Pointer(&data[0])), C.size_t(len(data)), &rows, &cols, &ch)
	if p == nil {
		return Picture{}, errors.New("cvref: OpenCV cannot decode the data")
	}
	return Picture{Rows: int(rows), Cols: int(cols), Channels: int(ch), Pix: take(p, int(rows*cols*ch))}, nil
}

// Encode is cv::imencode(ext, pic, out, params), ext such as ".jpg"; params are OpenCV's IMWRITE_* pairs.
func Encode(ext string, pic Picture, params ...int) ([]byte, error) {
	if len(pic.Pix) != pic.Rows*pic.Cols*pic.Channels || len(pic.Pix) == 0 {
		return nil, errors.New("cvref: encode: pixels do not match the size")
	}
	cext := C.CString(ext)
	defer C.free(unsafe.Pointer(cext))
	cparams := make([]C.int, len(params)+1) // +1: never a zero-length array to take the address of
	for i, v := range params {
		cparams[i] = C.int(v)
	}
	var n C.size_t
	p := C.cvref_encode(cext, (*C.uchar)(unsafe.Pointer(&pic.Pix[0])), C.int(pic.Rows), C.int(pic.Cols),
		C.int(pic.Channels), &cparams[0], C.int(len(params)), &n)
	if p == nil {
		return nil, fmt.Errorf("cvref: OpenCV cannot encode %s", ext)
	}
	return take(p, int(n)), nil
}

// EncodeCMYK writes cmyk (width x height x 4, Adobe's inverted CMYK) as a four-component JPEG, stored as CMYK or,
// with ycck, YCCK: pictures OpenCV reads but cannot write.
func EncodeCMYK(cmyk []byte, width, height int, ycck bool, quality int) ([]byte, error) {
	if len(cmyk) != width*height*4 || len(cmyk) == 0 {
		return nil, errors.New("cvref: encode CMYK: pixels do not match the size")
	}
	y := C.int(0)
	if ycck {
		y = 1
	}
	var n C.size_t
	p := C.cvref_encode_cmyk((*C.uchar)(unsafe.Pointer(&cmyk[0])), C.int(width), C.int(height), y, C.int(quality), &n)
	return take(p, int(n)), nil
}

// OpenCV's IMWRITE_* parameter ids used by the tests.
const (
	JPEGQuality    = 1  // IMWRITE_JPEG_QUALITY
	PNGCompression = 16 // IMWRITE_PNG_COMPRESSION
)
