package gocv

// Trimmed for Facefleet: only the modules the product calls are linked (see README.md). The include paths cover
// Debian's libopencv-dev and a default source build.

/*
#cgo CXXFLAGS:   --std=c++11
#cgo CPPFLAGS:   -I/usr/include/opencv4 -I/usr/local/include/opencv4
#cgo LDFLAGS:    -lopencv_photo -lopencv_imgproc -lopencv_core
*/
import "C"
