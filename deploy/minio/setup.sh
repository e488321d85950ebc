#!/bin/sh
# MinIO, standing in for R2: the bucket, public reads of the published prefixes only, and the GPU
# machine's own user, which may write under staging/ and nothing else. Runs in the minio/mc image.
set -eu
until mc alias set local http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null 2>&1; do sleep 1; done
mc mb --ignore-existing "local/$S3_BUCKET"
for prefix in characters stories scenes; do
  mc anonymous set download "local/$S3_BUCKET/$prefix"
done
sed "s/comfyloom-media/$S3_BUCKET/" /policies/gpu-staging-policy.json > /tmp/gpu-staging.json
mc admin policy create local gpu-staging /tmp/gpu-staging.json
mc admin user add local "$GPU_S3_ACCESS_KEY_ID" "$GPU_S3_SECRET_ACCESS_KEY"
mc admin policy attach local gpu-staging --user "$GPU_S3_ACCESS_KEY_ID" 2>/dev/null || echo "policy already attached"
echo "bucket $S3_BUCKET ready; user $GPU_S3_ACCESS_KEY_ID may write $S3_BUCKET/staging/ only"
