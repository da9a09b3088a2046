output "arn" {
  description = "Key ARN."
  value       = aws_kms_key.this.arn
}

output "key_id" {
  description = "Key id."
  value       = aws_kms_key.this.key_id
}

output "alias" {
  description = "Alias name (alias/...)."
  value       = aws_kms_alias.this.name
}
