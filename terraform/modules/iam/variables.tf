variable "name" {
  description = "Name prefix, sportsflow-<environment>."
  type        = string
}

variable "aws_region" {
  description = "Region (kms:ViaService conditions)."
  type        = string
}

variable "account_id" {
  description = "AWS account id (trust policy conditions)."
  type        = string
}

variable "msk_cluster_arn" {
  description = "MSK cluster ARN, arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid>."
  type        = string
}

variable "kafka_access" {
  description = "Per service: topics it produces to, topics it consumes, consumer groups it joins (names or name prefixes ending in *)."
  type = map(object({
    produce = list(string)
    consume = list(string)
    groups  = list(string)
  }))
}

variable "data_access" {
  description = "Per service: DynamoDB and S3 access, each none, read or write."
  type = map(object({
    dynamodb = string
    s3       = string
  }))

  validation {
    condition = alltrue(flatten([
      for a in values(var.data_access) : [contains(["none", "read", "write"], a.dynamodb), contains(["none", "read", "write"], a.s3)]
    ]))
    error_message = "dynamodb and s3 access must be none, read or write."
  }
}

variable "table_arn" {
  description = "DynamoDB table ARN."
  type        = string
}

variable "bucket_arn" {
  description = "S3 archive bucket ARN."
  type        = string
}

variable "data_kms_key_arn" {
  description = "KMS key of the table and the bucket."
  type        = string
}

variable "provider_secret_arns" {
  description = "Provider secret ARNs (read by the connectors at run time)."
  type        = map(string)
}

variable "app_secret_arns" {
  description = "Secrets ECS injects into containers (read by the execution role)."
  type        = map(string)
}

variable "secrets_kms_key_arn" {
  description = "KMS key of the secrets."
  type        = string
}

variable "logs_kms_key_arn" {
  description = "KMS key of the log groups."
  type        = string
}

variable "log_group_arns" {
  description = "Log group ARNs by key; service keys get container logs, ecs_exec gets exec sessions."
  type        = map(string)
}
