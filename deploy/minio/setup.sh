#!/bin/sh
# MinIO, standing in for R2: the bucket, and public reads of the published prefixes only. GPU machines hold no
# storage user: they upload through URLs the CPU worker signs for each render. Runs in the minio/mc image.
set -eu
until mc alias set local http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null 2>&1; do sleep 1; done
mc mb --ignore-existing "local/$S3_BUCKET"
for prefix in characters stories scenes; do
  mc anonymous set download "local/$S3_BUCKET/$prefix"
done
echo "bucket $S3_BUCKET ready"
