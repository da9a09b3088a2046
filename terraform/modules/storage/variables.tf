variable "name" {
  description = "Name prefix, sportsflow-<environment> (also the DynamoDB table name)."
  type        = string
}

variable "account_id" {
  description = "AWS account id (globally unique bucket names, policy conditions)."
  type        = string
}

variable "aws_region" {
  description = "Region (globally unique bucket names, ELB log delivery)."
  type        = string
}

variable "archive_ia_days" {
  description = "Days before archive objects move to STANDARD_IA."
  type        = number
  default     = 30
}

variable "archive_glacier_days" {
  description = "Days before archive objects move to GLACIER."
  type        = number
  default     = 90
}

variable "noncurrent_expiration_days" {
  description = "Days a noncurrent (overwritten or deleted) object version is kept."
  type        = number
  default     = 90
}

variable "logs_expiration_days" {
  description = "Days ALB and S3 access logs are kept."
  type        = number
  default     = 400
}
