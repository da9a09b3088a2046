variable "name" {
  description = "Cluster name, sportsflow-<environment>."
  type        = string
}

variable "account_id" {
  description = "AWS account id (key policy)."
  type        = string
}

variable "kafka_version" {
  description = "MSK Kafka version; major.minor must match <kafka.version> in pipeline/stack/pom.xml."
  type        = string
}

variable "instance_type" {
  description = "Broker instance type."
  type        = string
}

variable "broker_count" {
  description = "Number of brokers, a multiple of the number of subnets."
  type        = number
}

variable "volume_size" {
  description = "EBS volume per broker, GiB."
  type        = number
}

variable "subnet_ids" {
  description = "Private subnets, one per AZ."
  type        = list(string)
}

variable "security_group_id" {
  description = "Broker security group."
  type        = string
}

variable "log_group_name" {
  description = "CloudWatch log group for broker logs."
  type        = string
}

variable "log_retention_hours" {
  description = "Default topic retention (the app sets raw.<provider> retention itself)."
  type        = number
  default     = 168
}
