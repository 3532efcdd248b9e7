# Every dependency comes from a Debian 12 package (cmake/install-deps.sh installs them).
find_package(PkgConfig REQUIRED)
pkg_check_modules(LIBBPF REQUIRED IMPORTED_TARGET libbpf>=1.1)
pkg_check_modules(LIBXDP REQUIRED IMPORTED_TARGET libxdp>=1.3)
pkg_check_modules(LIBMNL REQUIRED IMPORTED_TARGET libmnl>=1.0)
find_package(absl REQUIRED CONFIG)
find_package(Catch2 2 REQUIRED CONFIG)
find_package(benchmark REQUIRED CONFIG)
include(Catch)
