module akshift.dev/bench/ceiling

go 1.26
