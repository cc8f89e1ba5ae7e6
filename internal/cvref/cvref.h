#ifndef FACEFLEET_CVREF_H
#define FACEFLEET_CVREF_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// cvref_read runs cv::imread(path, IMREAD_COLOR). It returns the BGR pixels (malloc'ed, rows*cols*3 bytes), or
// NULL when OpenCV cannot read the file.
unsigned char *cvref_read(const char *path, int *rows, int *cols);

// cvref_decode runs cv::imdecode(buf, IMREAD_UNCHANGED) on 8-bit pictures; *channels is 1, 3 or 4.
unsigned char *cvref_decode(const unsigned char *buf, size_t n, int *rows, int *cols, int *channels);

// cvref_encode runs cv::imencode(ext, picture, out, params) on a BGR (channels 3) or grey (1) picture.
unsigned char *cvref_encode(const char *ext, const unsigned char *pix, int rows, int cols, int channels,
                            const int *params, int nparams, size_t *n);

// cvref_encode_cmyk writes a four-component JPEG (CMYK, or YCCK with ycck != 0) with libjpeg: the tests' source of
// the CMYK JPEGs that print workflows make and that OpenCV reads but cannot write. Malloc'ed, *n bytes.
unsigned char *cvref_encode_cmyk(const unsigned char *cmyk, int width, int height, int ycck, int quality, size_t *n);

#ifdef __cplusplus
}
#endif

#endif
