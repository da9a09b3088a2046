variable "name" {
  description = "Cluster name and task family prefix, sportsflow-<environment>."
  type        = string
}

variable "aws_region" {
  description = "Region (awslogs driver)."
  type        = string
}

variable "image" {
  description = "The one Sportsflow image; services differ only in their command."
  type        = string
}

variable "cpu_architecture" {
  description = "X86_64 or ARM64; must match the image."
  type        = string
  default     = "X86_64"
}

variable "services" {
  description = "Per-service cpu, memory, desired/min/max task count."
  type = map(object({
    cpu           = number
    memory        = number
    desired_count = number
    min_count     = number
    max_count     = number
  }))
}

variable "subnet_ids" {
  description = "Private subnets of the tasks."
  type        = list(string)
}

variable "security_group_id" {
  description = "Security group of every task."
  type        = string
}

variable "execution_role_arn" {
  description = "Task execution role."
  type        = string
}

variable "task_role_arns" {
  description = "Task role by service."
  type        = map(string)
}

variable "target_group_arns" {
  description = "ALB target group by service (broadcaster, api)."
  type        = map(string)
}

variable "log_group_names" {
  description = "Log group names by key (one per service, plus ecs_exec)."
  type        = map(string)
}

variable "logs_kms_key_arn" {
  description = "KMS key encrypting ECS Exec sessions."
  type        = string
}

variable "enable_execute_command" {
  description = "Allow ECS Exec into the tasks."
  type        = bool
}

variable "environment" {
  description = "Environment variables common to every container (SPORTSFLOW_*)."
  type        = map(string)
}

variable "secrets" {
  description = "Environment variables injected from Secrets Manager: name -> secret ARN. Each service gets the ones it needs."
  type        = map(string)
}

variable "cpu_target_percent" {
  description = "Target average CPU of every service."
  type        = number
}

variable "msk_cluster_name" {
  description = "MSK cluster name (consumer-lag metric dimension)."
  type        = string
}

variable "lag_scaling" {
  description = "Services that scale on the consumer lag of their group (MSK SumOffsetLag over these topics) per task."
  type = map(object({
    group  = string
    topics = list(string)
    target = number
  }))
}

variable "broadcaster_connections_target" {
  description = "Target WebSocket connections per broadcaster task."
  type        = number
}

variable "metrics_namespace" {
  description = "Namespace of the app's EMF metrics."
  type        = string
}

variable "stop_timeout" {
  description = "Seconds between SIGTERM and SIGKILL (the app drains in-flight work in between; Fargate max 120)."
  type        = number
  default     = 60
}
