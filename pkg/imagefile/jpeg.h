// libjpeg-turbo glue: decode to BGR and encode from BGR with the settings OpenCV's imgcodecs uses, so pictures are
// byte for byte what cv::imread and cv::imencode give, without linking imgcodecs (and, through it, GDAL).
#ifndef FACEFLEET_IMAGEFILE_JPEG_H
#define FACEFLEET_IMAGEFILE_JPEG_H

#include <stddef.h>

#define IMGJPEG_MSG 200

// imgjpeg_decode_bgr reads the picture's size and, when out has room (out_len >= width * height * 3), decodes it
// into out as packed BGR (CMYK converted as OpenCV converts it). Returns 1 when it decoded, 0 when it only read the
// header, -1 with msg set on an error.
int imgjpeg_decode_bgr(const unsigned char *data, size_t n, unsigned char *out, size_t out_len, int *width,
                       int *height, char *msg);

// imgjpeg_encode_bgr encodes a BGR picture (stride bytes a row). luma_h and luma_v are the luma sampling factors
// (2 and 2 for 4:2:0, 1 and 1 for 4:4:4). *out is malloc'ed: the caller frees it.
int imgjpeg_encode_bgr(const unsigned char *bgr, int width, int height, int stride, int quality, int luma_h,
                       int luma_v, unsigned char **out, unsigned long *out_len, char *msg);

#endif
