module uvstreams

go 1.19
