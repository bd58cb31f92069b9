module github.com/uvstreams/uvstreams-go

go 1.19
