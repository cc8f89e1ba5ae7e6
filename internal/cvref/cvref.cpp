#include "cvref.h"

#include <cstdlib>
#include <cstring>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

static unsigned char *copy_out(const cv::Mat &m) {
	cv::Mat c = m.isContinuous() ? m : m.clone();
	size_t n = c.total() * c.elemSize();
	unsigned char *out = (unsigned char *)malloc(n ? n : 1);
	if (out != NULL) memcpy(out, c.data, n);
	return out;
}

unsigned char *cvref_read(const char *path, int *rows, int *cols) {
	cv::Mat m = cv::imread(path, cv::IMREAD_COLOR);
	if (m.empty()) return NULL;
	*rows = m.rows;
	*cols = m.cols;
	return copy_out(m);
}

unsigned char *cvref_decode(const unsigned char *buf, size_t n, int *rows, int *cols, int *channels) {
	cv::Mat in(1, (int)n, CV_8UC1, (void *)buf);
	cv::Mat m = cv::imdecode(in, cv::IMREAD_UNCHANGED);
	if (m.empty() || m.depth() != CV_8U) return NULL;
	*rows = m.rows;
	*cols = m.cols;
	*channels = m.channels();
	return copy_out(m);
}

unsigned char *cvref_encode(const char *ext, const unsigned char *pix, int rows, int cols, int channels,
                            const int *params, int nparams, size_t *n) {
	cv::Mat m(rows, cols, CV_8UC(channels), (void *)pix);
	std::vector<uchar> out;
	std::vector<int> p(params, params + nparams);
	if (!cv::imencode(ext, m, out, p)) return NULL;
	unsigned char *buf = (unsigned char *)malloc(out.size() ? out.size() : 1);
	if (buf != NULL) memcpy(buf, out.data(), out.size());
	*n = out.size();
	return buf;
}
