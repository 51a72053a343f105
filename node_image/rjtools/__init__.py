"""Node-side programs of the harness's faults, copied into the node image at /opt/rj/rjtools.

Standard-library Python, except `lazyfs` (Debian's python3-pyfuse3): `netqueue` (an NFQUEUE handler
that delays, reorders and duplicates packets, for kernels without netem), `probe` (a UDP echo
server and the prober that measures delay, loss, reordering and duplication between nodes) and
`lazyfs` (a write-back filesystem that loses what was written but never fsynced, its page cache
in `pagecache`) and `strobe` (a clock offset file flipped back and forth)."""
