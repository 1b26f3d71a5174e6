#!/bin/sh
# Pins every image of deploy/images.txt to the digest its tag has now in its registry, in
# images.txt and in every manifest and Helm value under deploy/ that uses it:
#   deploy/pin-images.sh            (needs crane: go install github.com/google/go-containerregistry/cmd/crane@latest)
# Run it after pushing DREAM's image (and after changing a tag), review the diff, commit.
# Manifests write an image as repository:tag@sha256:...; the Helm values as `repository:` followed,
# on the next line, by `tag: "tag@sha256:..."` (the chart joins them).
set -eu
cd "$(dirname "$0")"
grep -v '^#' images.txt | while read -r pinned; do
    [ -n "$pinned" ] || continue
    image=${pinned%@*}                 # repository:tag
    repository=${image%:*}
    tag=${image##*:}
    digest=$(crane digest "$image")
    echo "$image@$digest"
    for file in images.txt $(grep -rlF --include='*.yaml' "$repository" .); do
        sed -i \
            -e "s|$image@sha256:[0-9a-f]\{64\}|$image@$digest|g" \
            -e "\|repository: $repository\$|{n;s|tag: \"$tag@sha256:[0-9a-f]\{64\}\"|tag: \"$tag@$digest\"|;}" \
            "$file"
    done
done
