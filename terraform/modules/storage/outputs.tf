output "table_name" {
  description = "DynamoDB table name (SPORTSFLOW_AWS__DYNAMODB_TABLE)."
  value       = aws_dynamodb_table.this.name
}

output "table_arn" {
  description = "DynamoDB table ARN."
  value       = aws_dynamodb_table.this.arn
}

output "table_stream_arn" {
  description = "DynamoDB stream ARN (NEW_AND_OLD_IMAGES)."
  value       = aws_dynamodb_table.this.stream_arn
}

output "bucket_name" {
  description = "S3 archive bucket name (SPORTSFLOW_AWS__S3_BUCKET)."
  value       = aws_s3_bucket.archive.bucket
}

output "bucket_arn" {
  description = "S3 archive bucket ARN."
  value       = aws_s3_bucket.archive.arn
}

output "logs_bucket_name" {
  description = "Bucket receiving ALB and S3 server access logs."
  value       = aws_s3_bucket.logs.bucket
}

output "kms_key_arn" {
  description = "KMS key of the table and the archive."
  value       = module.kms.arn
}
