variable "name" {
  description = "Name prefix, sportsflow-<environment>."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the target groups."
  type        = string
}

variable "public_subnet_ids" {
  description = "Public subnets of the ALB."
  type        = list(string)
}

variable "security_group_id" {
  description = "ALB security group."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate for the HTTPS listener."
  type        = string
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener (TLS 1.2+)."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

variable "access_logs_bucket" {
  description = "Bucket receiving access logs under alb/."
  type        = string
}

variable "deletion_protection" {
  description = "Protect the ALB from deletion."
  type        = bool
}

variable "waf_log_group_arn" {
  description = "CloudWatch log group (aws-waf-logs-*) for WAF logs."
  type        = string
}

variable "broadcaster_port" {
  description = "Broadcaster container port (Settings.broadcaster.port)."
  type        = number
}

variable "api_port" {
  description = "REST API container port (Settings.api.port)."
  type        = number
}

variable "idle_timeout" {
  description = "Idle timeout, seconds; WebSocket connections idle longer are closed (the broadcaster pings more often)."
  type        = number
  default     = 300
}

variable "waf_rate_limit" {
  description = "Requests per 5 minutes from one IP before WAF blocks it."
  type        = number
  default     = 10000
}
