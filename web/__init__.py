"""Pages: the order book an ERP would show, and the chat, each with the Ruptura script."""
