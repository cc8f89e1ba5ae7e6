package imagefile

import (
	"encoding/binary"

	"gocv.io/x/gocv"
)

// exifOrientation finds the EXIF orientation (1-8) of a JPEG the way OpenCV 4.6 does: the first APP1 segment,
// whatever it holds, is read as "Exif\0\0" and a TIFF header, and tag 0x0112 of its first directory is taken. It
// gives 1 (upright) when there is none.
func exifOrientation(jpeg []byte) int {
	app1 := firstAPP1(jpeg)
	if len(app1) <= 6 {
		return 1
	}
	tiff := app1[6:]
	if len(tiff) < 8 {
		return 1
	}
	var order binary.ByteOrder
	switch string(tiff[:2]) {
	case "II":
		order = binary.LittleEndian
	case "MM":
		order = binary.BigEndian
	default:
		return 1
	}
	if order.Uint16(tiff[2:]) != 0x2A {
		return 1
	}
	ifd := int(order.Uint32(tiff[4:]))
	if ifd+2 > len(tiff) {
		return 1
	}
	n := int(order.Uint16(tiff[ifd:]))
	for i := 0; i < n; i++ {
		e := ifd + 2 + 12*i
		if e+12 > len(tiff) {
			return 1
		}
		if order.Uint16(tiff[e:]) == 0x0112 {
			if o := int(order.Uint16(tiff[e+8:])); o >= 1 && o <= 8 {
				return o
			}
			return 1
		}
	}
	return 1
}

// firstAPP1 gives the payload of the first APP1 segment before the image data, or nil.
func firstAPP1(jpeg []byte) []byte {
	i := 2 // after SOI
	for i+4 <= len(jpeg) {
		if jpeg[i] != 0xFF {
			return nil
		}
		marker := jpeg[i+1]
		switch {
		case marker == 0xFF: // fill byte
			i++
			continue
		case marker == 0x01 || marker >= 0xD0 && marker <= 0xD8: // no length
			i += 2
			continue
		case marker == 0xDA || marker == 0xD9: // start of scan, end of image
			return nil
		}
		size := int(binary.BigEndian.Uint16(jpeg[i+2:]))
		if size < 2 || i+2+size > len(jpeg) {
			return nil
		}
		if marker == 0xE1 {
			return jpeg[i+4 : i+2+size]
		}
		i += 2 + size
	}
	return nil
}

// orient turns m upright for an EXIF orientation, with the flips and transposes of OpenCV's ExifTransform.
func orient(m *gocv.Mat, orientation int) {
	if orientation <= 1 || orientation > 8 {
		return
	}
	out := gocv.NewMat()
	src := *m
	if orientation >= 5 {
		gocv.Transpose(*m, &out)
		src = out
	}
	switch orientation {
	case 2, 6:
		gocv.Flip(src, &out, 1)
	case 3, 7:
		gocv.Flip(src, &out, -1)
	case 4, 8:
		gocv.Flip(src, &out, 0)
	}
	_ = m.Close()
	*m = out
}
