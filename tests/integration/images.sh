# Test images built from Debian's busybox-static (tools/deps installs it), for
# the isolation tests. Source after lib.sh; every function writes under $T.
#
#   require_busybox                skips the test (exit 77) without /bin/busybox
#   make_rootfs DIR                a busybox root filesystem in DIR
#   make_rootfs_tar FILE           a plain rootfs tarball of it
#   make_oci DIR                   an OCI image layout with two gzip layers: the
#                                  rootfs (with /etc/removed) and a layer that
#                                  deletes /etc/removed (whiteout) and adds
#                                  /etc/added; config Env IMAGE_VAR=from-image
#   make_oci_archive DIR FILE      a tar archive of an OCI layout
# The digests are computed here with sha256sum, as a registry client would.

require_busybox() {
    if [ ! -x /bin/busybox ]; then
        echo "SKIP: /bin/busybox is missing (tools/deps installs busybox-static)" >&2
        exit 77
    fi
}

make_rootfs() {
    local d=$1 a
    mkdir -p "$d/bin" "$d/etc" "$d/tmp" "$d/root" "$d/proc" "$d/dev" "$d/sys"
    cp /bin/busybox "$d/bin/busybox"
    for a in $("$d/bin/busybox" --list); do
        [ "$a" = busybox ] || ln -sf busybox "$d/bin/$a"
    done
    echo "root:x:0:0:root:/root:/bin/sh" >"$d/etc/passwd"
    echo "root:x:0:" >"$d/etc/group"
    echo "nobody:x:65534:65534:nobody:/:/bin/false" >>"$d/etc/passwd"
    echo "from-the-image" >"$d/etc/image-marker"
}

make_rootfs_tar() {
    local f=$1 d
    d=$(mktemp -d "$T/rootfs.XXXXXX")
    make_rootfs "$d"
    tar -C "$d" -cf "$f" .
    rm -rf "$d"
}

# blob FILE DIR: moves FILE into DIR/blobs/sha256/<digest>; prints the digest.
blob() {
    local f=$1 d=$2 h
    h=$(sha256sum "$f" | cut -d' ' -f1)
    mv "$f" "$d/blobs/sha256/$h"
    echo "$h"
}

make_oci() {
    local d=$1 base top l1 l2 diff1 diff2 cfg man size1 size2 csize msize
    base=$(mktemp -d "$T/oci-l1.XXXXXX")
    top=$(mktemp -d "$T/oci-l2.XXXXXX")
    mkdir -p "$d/blobs/sha256"
    make_rootfs "$base"
    echo "bye" >"$base/etc/removed"
    mkdir -p "$top/etc"
    : >"$top/etc/.wh.removed"
    echo "from-layer-two" >"$top/etc/added"
    tar -C "$base" -cf "$T/l1.tar" .
    tar -C "$top" -cf "$T/l2.tar" .
    diff1=$(sha256sum "$T/l1.tar" | cut -d' ' -f1)
    diff2=$(sha256sum "$T/l2.tar" | cut -d' ' -f1)
    gzip -n -c "$T/l1.tar" >"$T/l1.tgz"
    gzip -n -c "$T/l2.tar" >"$T/l2.tgz"
    size1=$(stat -c %s "$T/l1.tgz")
    size2=$(stat -c %s "$T/l2.tgz")
    l1=$(blob "$T/l1.tgz" "$d")
    l2=$(blob "$T/l2.tgz" "$d")
    rm -rf "$base" "$top" "$T/l1.tar" "$T/l2.tar"
    printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin","IMAGE_VAR=from-image"],"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s","sha256:%s"]}}' \
        "$diff1" "$diff2" >"$T/config.json"
    csize=$(stat -c %s "$T/config.json")
    cfg=$(blob "$T/config.json" "$d")
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s},{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
        "$cfg" "$csize" "$l1" "$size1" "$l2" "$size2" >"$T/manifest.json"
    msize=$(stat -c %s "$T/manifest.json")
    man=$(blob "$T/manifest.json" "$d")
    printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' \
        "$man" "$msize" >"$d/index.json"
    echo '{"imageLayoutVersion":"1.0.0"}' >"$d/oci-layout"
    OCI_MANIFEST=$man
    OCI_LAYER1=$l1
}

make_oci_archive() {
    tar -C "$1" -cf "$2" .
}
