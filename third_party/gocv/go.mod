module gocv.io/x/gocv

go 1.13
