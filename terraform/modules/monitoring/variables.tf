variable "name" {
  description = "Name prefix, sportsflow-<environment>."
  type        = string
}

variable "environment" {
  description = "dev, staging or prod."
  type        = string
}

variable "aws_region" {
  description = "Region of the log groups and metrics."
  type        = string
}

variable "account_id" {
  description = "AWS account id (key policy principals and conditions)."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of every log group."
  type        = number
}

variable "service_names" {
  description = "ECS service names; one log group each."
  type        = list(string)
}

variable "alarm_emails" {
  description = "E-mail subscribers of the alarm topic."
  type        = list(string)
}

variable "msk_cluster_name" {
  description = "MSK cluster name (AWS/Kafka `Cluster Name` dimension)."
  type        = string
}

variable "msk_broker_count" {
  description = "Number of brokers (one disk alarm per broker id 1..N)."
  type        = number
}

variable "ecs_cluster_name" {
  description = "ECS cluster name (ClusterName dimension)."
  type        = string
}

variable "alb_arn_suffix" {
  description = "ALB ARN suffix (LoadBalancer dimension)."
  type        = string
}

variable "target_group_arn_suffix" {
  description = "Target group ARN suffixes by service (TargetGroup dimension)."
  type        = map(string)
}

variable "latency_stage" {
  description = "Value of the Stage dimension of LatencyMs the latency alarm watches (source -> delivery)."
  type        = string
  default     = "end_to_end"
}

variable "consumer_lag_threshold" {
  description = "ConsumerLag (messages) above which the lag alarm fires."
  type        = number
  default     = 50000
}
