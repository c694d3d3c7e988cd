"""Rows rendered as Razorpay API entities (the JSON the official SDKs and docs expect).

Amounts are integers in the currency's smallest unit (paise), times are Unix seconds, ids carry
their entity prefix (`order_`, `pay_`, `rfnd_`, `evt_`, `hook_`, `acc_`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from casebook.systems.razorpay import publicids
from casebook.systems.razorpay.models import (
    CardToken,
    Customer,
    Order,
    Payment,
    PaymentLink,
    Plan,
    Refund,
    Settlement,
    Subscription,
    Webhook,
)


def unix(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment is not None else None


def order_entity(order: Order) -> dict[str, Any]:
    return {
        "id": publicids.encode("order", order.id),
        "entity": "order",
        "amount": order.amount,
        "amount_paid": order.amount_paid,
        "amount_due": order.amount - order.amount_paid,
        "currency": order.currency,
        "receipt": order.receipt,
        "offer_id": None,
        "status": order.status,
        "attempts": order.attempts,
        "notes": order.notes or [],
        "created_at": unix(order.created_at),
    }


def refund_status(payment: Payment) -> str | None:
    if payment.amount_refunded == 0:
        return None
    return "full" if payment.amount_refunded == payment.amount else "partial"


def payment_entity(payment: Payment) -> dict[str, Any]:
    card = None
    if payment.method == "card":
        card = {
            "id": payment.card_token,
            "entity": "card",
            "last4": payment.card_last4,
            "network": payment.card_network,
            "type": "credit",
        }
    return {
        "id": publicids.encode("pay", payment.id),
        "entity": "payment",
        "amount": payment.amount,
        "currency": payment.currency,
        "status": payment.status,
        "order_id": publicids.encode("order", payment.order_id) if payment.order_id else None,
        "invoice_id": None,
        "international": payment.currency != "INR",
        "method": payment.method,
        "amount_refunded": payment.amount_refunded,
        "refund_status": refund_status(payment),
        "captured": payment.status in ("captured", "refunded"),
        "description": payment.description,
        "card_id": payment.card_token,
        "card": card,
        "bank": payment.bank,
        "wallet": payment.wallet,
        "vpa": payment.vpa,
        "email": payment.email,
        "contact": payment.contact,
        "notes": payment.notes or [],
        "fee": payment.fee if payment.status in ("captured", "refunded") else None,
        "tax": payment.tax if payment.status in ("captured", "refunded") else None,
        "error_code": payment.error_code,
        "error_description": payment.error_description,
        "error_reason": payment.error_description,
        "acquirer_data": {"gateway": payment.gateway, "reference": payment.gateway_reference},
        "created_at": unix(payment.created_at),
    }


def refund_entity(refund: Refund) -> dict[str, Any]:
    return {
        "id": publicids.encode("rfnd", refund.id),
        "entity": "refund",
        "amount": refund.amount,
        "currency": refund.currency,
        "payment_id": publicids.encode("pay", refund.payment_id),
        "notes": refund.notes or [],
        "receipt": refund.receipt,
        "acquirer_data": {"arn": None},
        "created_at": unix(refund.created_at),
        "batch_id": None,
        "status": refund.status,
        "speed_processed": "normal",
        "speed_requested": "normal",
    }


def settlement_entity(settlement: Settlement) -> dict[str, Any]:
    return {
        "id": publicids.encode("setl", settlement.id),
        "entity": "settlement",
        "amount": settlement.amount,
        "currency": settlement.currency,
        "status": settlement.status,
        "fees": settlement.fees,
        "tax": settlement.tax,
        "utr": settlement.utr,
        "payments": {"count": settlement.payments_count, "amount": settlement.payments_amount},
        "refunds": {"count": settlement.refunds_count, "amount": settlement.refunds_amount},
        "period": {"from": unix(settlement.period_start), "to": unix(settlement.period_end)},
        "created_at": unix(settlement.created_at),
    }


def payment_link_entity(
    link: PaymentLink, short_url: str, link_payments: list[Payment] | None = None
) -> dict[str, Any]:
    """Razorpay's payment link; `short_url` is the public page where the customer pays it."""
    return {
        "id": publicids.encode("plink", link.id),
        "entity": "payment_link",
        "amount": link.amount,
        "amount_paid": link.amount_paid,
        "currency": link.currency,
        "accept_partial": link.accept_partial,
        "first_min_partial_amount": link.first_min_partial_amount,
        "description": link.description,
        "customer": link.customer or {},
        "reference_id": link.reference_id or "",
        "notes": link.notes or [],
        "status": link.status,
        "short_url": short_url,
        "expire_by": unix(link.expire_by) or 0,
        "expired_at": unix(link.expired_at) or 0,
        "cancelled_at": unix(link.cancelled_at) or 0,
        "created_at": unix(link.created_at),
        "updated_at": unix(link.updated_at),
        "payments": [
            {
                "payment_id": publicids.encode("pay", p.id),
                "amount": p.amount,
                "status": p.status,
                "method": p.method,
                "created_at": unix(p.created_at),
            }
            for p in link_payments or []
        ]
        or None,
    }


def plan_entity(plan: Plan) -> dict[str, Any]:
    return {
        "id": publicids.encode("plan", plan.id),
        "entity": "plan",
        "interval": plan.interval,
        "period": plan.period,
        "item": {
            "name": plan.name,
            "description": plan.description,
            "amount": plan.amount,
            "unit_amount": plan.amount,
            "currency": plan.currency,
        },
        "notes": plan.notes or [],
        "created_at": unix(plan.created_at),
    }


def subscription_entity(subscription: Subscription, short_url: str) -> dict[str, Any]:
    """Razorpay's subscription; `short_url` is where the customer authenticates the mandate."""
    return {
        "id": publicids.encode("sub", subscription.id),
        "entity": "subscription",
        "plan_id": publicids.encode("plan", subscription.plan_id),
        "status": subscription.status,
        "quantity": 1,
        "total_count": subscription.total_count,
        "paid_count": subscription.paid_count,
        "remaining_count": subscription.total_count - subscription.paid_count,
        "auth_attempts": subscription.failed_attempts,
        "start_at": unix(subscription.start_at),
        "charge_at": unix(subscription.charge_at),
        "ended_at": unix(subscription.ended_at),
        "payment_method": subscription.method,
        "customer_notify": 1,
        "has_scheduled_changes": subscription.cancel_at_cycle_end,
        "notes": subscription.notes or [],
        "short_url": short_url,
        "source": "api",
        "created_at": unix(subscription.created_at),
    }


def customer_entity(customer: Customer) -> dict[str, Any]:
    return {
        "id": publicids.encode("cust", customer.id),
        "entity": "customer",
        "name": customer.name,
        "email": customer.email,
        "contact": customer.contact,
        "gstin": None,
        "notes": customer.notes or [],
        "created_at": unix(customer.created_at),
    }


def token_entity(token: CardToken) -> dict[str, Any]:
    """A saved card as Razorpay shows it: never the number or the network token."""
    return {
        "id": publicids.encode("token", token.id),
        "entity": "token",
        "token": publicids.encode("token", token.id),
        "method": "card",
        "card": {
            "entity": "card",
            "name": token.name,
            "last4": token.last4,
            "network": token.network,
            "expiry_month": token.expiry_month,
            "expiry_year": token.expiry_year,
        },
        "used_at": unix(token.used_at),
        "created_at": unix(token.created_at),
    }


def webhook_entity(webhook: Webhook) -> dict[str, Any]:
    return {
        "id": publicids.encode("hook", webhook.id),
        "entity": "webhook",
        "url": webhook.url,
        "events": {name: True for name in webhook.events},
        "active": webhook.active,
        "created_at": unix(webhook.created_at),
    }


def collection(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"entity": "collection", "count": len(items), "items": items}
